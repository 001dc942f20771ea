"""`python -m workflow.checker [package.module:NAME]`."""

from workflow.checker import main

raise SystemExit(main())
