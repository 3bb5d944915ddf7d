from shelfwise.cli import main

raise SystemExit(main())
