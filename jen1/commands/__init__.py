"""CLI subcommands: each module has add_parser(subparsers) and handlers returning exit codes."""
