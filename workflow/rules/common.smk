# Bookkeeping done once: config validation, shared helpers, the final target list.
from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")
for _section in ("rhm", "learned", "images"):
    validate(config[_section], schema=f"../schemas/{_section}.schema.yaml")


def final_targets():
    """Every file `rule all` asks for: each enabled branch contributes its figures and report items."""
    targets = []
    if config["rhm"]["enabled"]:
        targets += rhm_targets()
    if config["learned"]["enabled"]:
        targets += learned_targets()
    if config["images"]["enabled"]:
        targets += images_targets()
    return targets
