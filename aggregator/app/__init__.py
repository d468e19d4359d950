"""The shells over the pipeline: the command line, the web server, the scheduler, the demo."""
