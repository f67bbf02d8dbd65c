#!/usr/bin/env bash
# Ansible's own checks of the qfix.qfix collection, as CI runs them: every ansible-test
# sanity test and ansible-lint's production profile. Exit 1 names the checks that failed.
#
# ansible-test builds a virtual environment per sanity test and bootstraps pip in each with a
# script it downloads from its own host, which CI cannot reach (only package registries):
# get_pip.py stands in for it, with pip's wheel from PyPI (see its docstring).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
collection=$here/../ansible_collections/qfix/qfix
python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# the pip version ansible-test pins for its virtual environments
pip_version=$(python3 -c '
import ansible_test._internal.python_requirements as r, ansible_test._internal.host_configs as h
print(r.get_venv_packages(h.NativePythonConfig(version="'"$python"'"))["pip"])')
cache=$HOME/.ansible/test/cache
script=$cache/get_pip_${pip_version//./_}.py
if [ ! -f "$script" ]; then
  mkdir -p "$cache"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps "pip==$pip_version" -d "$cache"
  cp "$here/get_pip.py" "$script"
fi

failed=()
cd "$collection"
rm -rf tests/output
# ShellCheck runs as one of the sanity tests: without it ansible-test skips that test with a warning
command -v shellcheck >/dev/null || { echo "ansible sanity: shellcheck is not installed" >&2; failed+=(shellcheck-missing); }
if ! ansible-test sanity --local --python "$python" --color no; then failed+=(ansible-test-sanity); fi
if ! ANSIBLE_COLLECTIONS_PATH=$here/.. ansible-lint --profile production --nocolor; then failed+=(ansible-lint); fi
rm -rf tests/output
if [ ${#failed[@]} -gt 0 ]; then
  echo "ansible checks FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "ansible checks: ansible-test sanity (all tests) and ansible-lint --profile production passed"
