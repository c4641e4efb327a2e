"""The ``neuro-llm`` command line: commands (``main``), configuration files (``runconfig``), generated docs."""
