"""The thin app layer: command line, HTTP upload API, configuration and the daily pipeline."""
