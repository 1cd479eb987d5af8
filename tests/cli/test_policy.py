"""`tierline policy` loads catalogs when it runs, not whenever `tierline` starts."""

import subprocess
import sys

HEAVY = ("holidays", "yaml", "policies.format", "policies.loading", "policies.resolution")


def test_importing_the_policy_commands_loads_no_catalog_machinery():
    code = f"import sys, cli.policy; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
