"""Packaging beyond pyproject.toml: the top-level conf/ ships inside the package as
experiments/conf, where `experiments.CONF_DIR` finds it in a non-editable install."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["simulator*", "experiments*"]), "experiments.conf"],
      package_dir={"experiments.conf": "conf"})
