"""`python -m workflow.diagrams [--format F ...] [--out DIR]`."""

from workflow.diagrams import main

raise SystemExit(main())
