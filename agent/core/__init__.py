"""The core: model, symlink-safe root, runner, journal, engine, context."""
