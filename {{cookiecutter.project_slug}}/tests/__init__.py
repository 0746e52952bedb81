"""The project's tests."""

from pathlib import Path

import pytest

# pytest rewrites the asserts of test_*.py and conftest.py for its detailed
# messages; the helpers and shared contracts here (support.py, sql_contract.py...)
# get them too.
pytest.register_assert_rewrite(
    *(
        f"{__name__}.{path.stem}"
        for path in Path(__file__).parent.glob("*.py")
        if not path.stem.startswith(("test_", "conftest", "__"))
    )
)
