"""Stand-in for ansible-test's pip bootstrap script (get-pip.py), for machines that reach
PyPI but not ansible-test's download host.

ansible-test creates each sanity test's virtual environment without pip, then runs the
script cached at ~/.ansible/test/cache/get_pip_<version>.py inside it with pip's install
options. This one does what get-pip.py does with the pip wheel from PyPI that lies beside
it (run.sh downloads it): put the wheel on sys.path and let that pip install itself and the
pinned packages.
"""

import glob
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
version = os.path.basename(__file__)[len("get_pip_"):-len(".py")].replace("_", ".")
wheels = glob.glob(os.path.join(here, "pip-%s-*.whl" % version))
if not wheels:
    sys.exit("no pip %s wheel beside %s" % (version, __file__))
sys.path.insert(0, wheels[0])

# get-pip.py's own flags, not pip's: leave those packages out
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]

from pip._internal.cli.main import main  # noqa: E402  (importable only from the wheel)

sys.exit(main(["install", "--upgrade", "--force-reinstall"] + args))
