"""`kgrec-train`: the Hydra app that runs one experiment (or a sweep with -m)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from kgrec.errors import KgrecError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "conf"

# ${kgrec_root:} is the project checkout, so the default data works from any working directory;
# ${abspath:p} resolves a user's relative path against the directory kgrec-train was started in.
OmegaConf.register_new_resolver("kgrec_root", lambda: str(PROJECT_ROOT), replace=True)
OmegaConf.register_new_resolver("abspath", lambda path: to_absolute_path(str(path)), replace=True)

# In a DDP run (torchrun sets RANK) the processes besides rank 0 log nothing and make no run directory of
# their own: rank 0 writes the run (kgrec.train.distributed). Later overrides win over the user's.
QUIET_RANK_OVERRIDES = ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=disabled",
                        "hydra/hydra_logging=disabled"]


def main() -> None:
    if os.environ.get("RANK", "0") != "0":
        sys.argv += QUIET_RANK_OVERRIDES
    run()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def run(config: DictConfig) -> float:
    from kgrec.train.experiment import run_experiment

    out_dir = HydraConfig.get().runtime.output_dir
    try:
        metrics = run_experiment(OmegaConf.to_container(config, resolve=True), out_dir)
    except KgrecError as error:
        print(f"kgrec-train: error: {error}", file=sys.stderr)
        sys.exit(2)
    # The return value is what hparams_search (Optuna) maximises: the validation metric, never test.
    return metrics["valid"][config.eval.monitor]


if __name__ == "__main__":
    main()
