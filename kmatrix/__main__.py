from kmatrix.cli import main

raise SystemExit(main())
