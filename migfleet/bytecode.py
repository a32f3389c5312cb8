"""Python's byte code caches: anything named `__pycache__` (the folder and all below it) and any file
whose name ends in `.pyc`. They are never synced to a host and never listed there, so one rule decides
both: read in Python (`cache_name`, `cache_file`, `is_cache`, `copy_ignore`) and written in find's
words (`FIND_NOT_CACHE`, for `find -type f`); a test runs that find against `is_cache` on one tree.
"""
from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable

CACHE_NAME = "__pycache__"
CACHE_SUFFIX = ".pyc"
# find's tests for a file (-type f) that is not a cache
FIND_NOT_CACHE = f"! -name '*{CACHE_SUFFIX}' ! -name {CACHE_NAME} ! -path '*/{CACHE_NAME}/*'"


def cache_name(name: str) -> bool:
    """A folder (with everything below it) or file of this name is a cache."""
    return name == CACHE_NAME


def cache_file(name: str) -> bool:
    """A file of this name is a cache (a folder of it is not)."""
    return name.endswith(CACHE_SUFFIX)


def is_cache(relative_path: str) -> bool:
    """A file's path relative to a tree ('a/1/model.py') -> whether it is a cache."""
    parts = relative_path.split("/")
    return cache_file(parts[-1]) or any(cache_name(p) for p in parts)


def copy_ignore(*patterns: str) -> Callable[[str, Iterable[str]], set[str]]:
    """shutil.copytree's `ignore`: caches, and names matching `patterns` (fnmatch, as ignore_patterns)."""
    def ignore(folder: str, names: Iterable[str]) -> set[str]:
        return {n for n in names
                if cache_name(n) or (cache_file(n) and not os.path.isdir(os.path.join(folder, n)))
                or any(fnmatch.fnmatch(n, p) for p in patterns)}
    return ignore
