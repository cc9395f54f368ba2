"""Command-line tools around the notebooks, not imported by them.

* :mod:`helpers.cli.runner`: ``make run-all`` (papermill, in chain order);
* :mod:`helpers.cli.lab`: ``make lab`` (JupyterLab with this environment's kernel);
* :mod:`helpers.cli.readme`: ``make readme-results`` (the README's generated results section);
* :mod:`helpers.cli.seeds`: ``make seeds`` (notebooks 01-04 under several training seeds);
* :mod:`helpers.cli.book`: ``make book`` (the executed notebooks of the last full run as an HTML
  book).
"""
