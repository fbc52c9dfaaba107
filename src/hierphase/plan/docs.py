"""Planning of the docs' numbers: the tables the ``docs_results`` rule reads (every name of
:data:`hierphase.stages.docs.DOCS_TABLES`, placed by the branches' file patterns), the templates
it fills and where it writes them (under ``results/docs/``)."""

from __future__ import annotations

from types import SimpleNamespace

from .config import Plan
from .learned import CORR as LEARNED_CORR
from .learned import TABLES as LEARNED_TABLES
from .mdlm import GRAMMAR_TABLES_DIR as MDLM_GRAMMAR_TABLES
from .mdlm import TEXT_TABLES_DIR as MDLM_TEXT_TABLES
from .rhm import CORR, CRITICAL, DEPTH, KEPT, PHASE_TABLE, SCALING, THEORY_SUMMARY

__all__ = ["DOCS", "TEMPLATES", "docs_tables", "docs_templates", "docs_outputs", "docs_targets"]

#: Where the rule writes the filled pages and the numbers it filled them with.
DOCS = "results/docs"
#: The templates, by page name: ``workflow/templates/docs/<page>.md`` fills ``docs/<page>.md``
#: (Jinja2; the workflow's own files, so that a copy of the workflow renders them).
TEMPLATES = {page: f"workflow/templates/docs/{page}.md"
             for page in ("results", "finite_size_scaling", "learned_correlations",
                          "image_correlations")}
#: The RHM experiment whose tables the docs quote.
EXPERIMENT = "main"


def docs_tables(plan: Plan) -> dict[str, str | list[str]]:
    """The table every number of the docs reads, by name (the RHM, learned, images and MDLM
    branches' files; the names of :data:`hierphase.stages.docs.DOCS_TABLES`); ``theory``: an input
    function giving the mean-field table of every depth, read only when the docs are asked for
    (a run without the RHM experiment ``main``, or with a branch switched off, still plans)."""
    images = plan["images"].TABLES
    rhm = {"experiment": EXPERIMENT}
    scaling = SCALING.format(**rhm)

    def theory(wildcards) -> list[str]:
        return plan["rhm"].theory_tables(SimpleNamespace(**rhm))

    return {"kept": KEPT.format(**rhm),
            "theory": theory,
            "theory_summary": THEORY_SUMMARY.format(**rhm),
            "scaling": f"{scaling}/scaling.parquet", "scaling_points": f"{scaling}/points.parquet",
            "exponents": f"{CORR}/exponents.parquet",
            "level_exponents": f"{CORR}/level_exponents.parquet",
            "signature": f"{CORR}/signature.parquet",
            "depth_estimates": f"{DEPTH}/estimates.parquet",
            "depth_calibration": f"{DEPTH}/calibration.parquet",
            "population": f"{CRITICAL}/population.parquet",
            "critical": f"{CRITICAL}/estimates.parquet",
            "local_exponents": f"{CRITICAL}/local_exponents.parquet",
            "width_exponents": f"{CRITICAL}/width_exponents.parquet",
            "same_rules": f"{CRITICAL}/same_rules.parquet", "phase_diagram": PHASE_TABLE,
            **{t: f"{LEARNED_TABLES}/{t}.parquet" for t in ("evaluation", "distance", "validity",
                                                          "sample_complexity", "learning_curve")},
            "chi_distance": f"{LEARNED_CORR}/chi_distance.parquet",
            "learned_susceptibility": f"{LEARNED_CORR}/susceptibility.parquet",
            **{t: f"{images}/{t}.parquet" for t in ("quality", "class_kept", "layer_similarity",
                                                    "patch_susceptibility")},
            "mdlm_gap": f"{MDLM_GRAMMAR_TABLES}/gap.parquet",
            "mdlm_peaks": f"{MDLM_TEXT_TABLES}/peaks.parquet"}


def docs_templates() -> dict[str, str]:
    """The templates as the rule's inputs: ``template_<page>``."""
    return {f"template_{page}": path for page, path in TEMPLATES.items()}


def docs_outputs() -> dict[str, str]:
    """The filled pages by page name, and ``numbers``: the JSON of the numbers they quote."""
    return {**{page: f"{DOCS}/{page}.md" for page in TEMPLATES}, "numbers": f"{DOCS}/numbers.json"}


def docs_targets() -> list[str]:
    """What ``snakemake docs`` makes."""
    return list(docs_outputs().values())
