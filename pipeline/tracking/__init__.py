"""Every MLflow call of the project: the store, runs, logged models, the registry, plots.

No module outside this package (and the pyfunc wrapper in ``serving``) imports
``mlflow``; ``make lint`` enforces it.
"""
