"""What runs through the CLI and is shown: the command line, the reports, advice, bundles."""
