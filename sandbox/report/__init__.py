"""Policy-analysis outputs: summary statistics, figures and reports from a results store.

- :func:`sandbox.report.build.build_report` writes ``sandbox report``'s self-contained
  HTML page and its JSON sidecar (``docs/reports.md``).
- ``load`` reads a results folder once; ``comparison``, ``sensitivity`` and
  ``provenance`` compute what the sections show; ``sections`` assembles them;
  ``figures`` and ``sweep_figures`` draw; ``templates/`` lay out the page; ``export``
  writes optional PNG and PDF copies.
- ``summary`` serves ``sandbox run``'s printed comparison and its figures page;
  ``stats`` holds the estimators every part shares.
"""
