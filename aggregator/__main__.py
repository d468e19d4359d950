from aggregator.app.cli import main

raise SystemExit(main())
