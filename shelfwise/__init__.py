"""shelfwise: a recommendation agent for online shops."""

__version__ = "0.1.0"


def _register_gymnasium_envs() -> None:
    """Let ``gymnasium.make("shelfwise/Shopper-v0")`` work after ``import shelfwise``.

    Importing gymnasium here would add about 0.1 s to every CLI start, so the id is registered
    now when gymnasium is already imported, else right after its first import (a one-shot
    import hook that removes itself); see :mod:`shelfwise.sim.registration`.
    """
    import sys

    if "gymnasium" in sys.modules:
        from shelfwise.sim.registration import register_envs

        register_envs()
        return
    if not any(isinstance(f, _GymnasiumHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _GymnasiumHook())


class _GymnasiumHook:
    """Meta-path finder: when ``gymnasium`` is imported, register shelfwise's envs after it."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        if fullname != "gymnasium":
            return None
        import importlib.util
        import sys

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("gymnasium")
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    """Runs gymnasium's own loader, then :func:`shelfwise.sim.registration.register_envs`."""

    def __init__(self, loader: object) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> object:  # resource readers, is_package, ...
        return getattr(self.loader, name)

    def create_module(self, spec: object) -> object:
        return self.loader.create_module(spec)  # type: ignore[attr-defined]

    def exec_module(self, module: object) -> None:
        self.loader.exec_module(module)  # type: ignore[attr-defined]
        from shelfwise.sim.registration import register_envs

        register_envs()


_register_gymnasium_envs()
