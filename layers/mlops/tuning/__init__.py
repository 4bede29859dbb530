"""Hyperparameter search for ``mlops train --tune`` (Optuna), recorded as runs in the run store.

``space`` reads the search-space file, ``journal`` keeps the study beside its runs, ``trials`` runs
trials (each a child run), ``workers`` runs them in K processes, ``summary`` registers the best and
writes the parent run, ``study.tune`` ties them together. Import cost: Optuna, only for this command.
"""
