from plugin_runtime.cli import main

raise SystemExit(main())
