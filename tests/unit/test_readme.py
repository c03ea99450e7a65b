"""The README's tables are generated from the planner and the catalog: they must be current."""

from devtools import readme


def test_readme_generated_sections_are_current():
    current = readme.README.read_text()
    assert readme.render(current) == current, "README.md is stale: run `uv run python -m devtools.readme`"


def test_every_generated_section_is_present_in_the_readme():
    text = readme.README.read_text()
    for name in readme.SECTIONS:
        assert f"<!-- BEGIN generated:{name} -->" in text
        assert f"<!-- END generated:{name} -->" in text


def test_the_plans_table_shows_a_refusal_and_the_recipe_env():
    table = readme.plans_table()
    assert "refused" in table
    assert "--kv-cache-dtype fp8" in table
    assert "VLLM_ROCM_USE_AITER=1" in table
