"""The kinds a blueprint or a resource names: batch systems, middleware, site features, head
placements. Plain enums (no pydantic): the command line's choices come from here at no cost."""

from __future__ import annotations

from enum import StrEnum


class BatchKind(StrEnum):
    FORK = "fork"
    SLURM = "slurm"
    PBS = "pbs"
    TORQUE = "torque"
    LSF = "lsf"
    SGE = "sge"
    CONDOR = "condor"


class MiddlewareKind(StrEnum):
    DASK = "dask"
    WORKQUEUE = "workqueue"
    SPARK = "spark"
    HTCONDOR = "htcondor"
    JUPYTERLAB = "jupyterlab"
    NONE = "none"


class Feature(StrEnum):
    SINGULARITY = "singularity"
    APPTAINER = "apptainer"
    SHIFTER = "shifter"
    CVMFS = "cvmfs"


class HeadPlacement(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    ALLOCATION = "allocation"
    EXTERNAL = "external"
