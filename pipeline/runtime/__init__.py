"""How jobs run: the driver (groups, printed tables, shared stores), the executors (this
process, or Ray tasks) and the retrain lock.

The jobs (``pipeline/jobs/``) sit above: the driver takes a job function and runs it
once per group, and never imports a job.
"""
