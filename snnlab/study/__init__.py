"""The study engine: trial specs, the SQLite results store, resumable sweeps, profiles, notebook runs.

Public names (pinned in docs/architecture.md): ``TrialSpec``, ``ResultsStore``, ``TrialResult``,
``run_trial``, ``train_trial``, ``TrainedTrial``, ``run_trials``, ``RunReport``, ``grid``, ``PROFILES``,
``get_profile``, ``notebook_config``, ``StudyConfig``.
"""

from snnlab.study.artefact import export_results, import_results, verify_results
from snnlab.study.profiles import PROFILES, Profile, StudyConfig, get_profile, notebook_config
from snnlab.study.runner import RunReport, TrainedTrial, TrialFailed, run_trial, run_trials, train_trial
from snnlab.study.spec import TrialSpec, grid
from snnlab.study.store import DEFAULT_STORE, ResultsStore, TrialResult

__all__ = [
    "DEFAULT_STORE",
    "PROFILES",
    "Profile",
    "StudyConfig",
    "get_profile",
    "notebook_config",
    "ResultsStore",
    "RunReport",
    "TrainedTrial",
    "TrialFailed",
    "TrialResult",
    "TrialSpec",
    "export_results",
    "grid",
    "import_results",
    "run_trial",
    "run_trials",
    "train_trial",
    "verify_results",
]
