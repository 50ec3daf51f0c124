"""The ``ere`` console script (``python -m ere_cli`` too): ``ere_allennlp.cli.main``, after the
three FutureWarnings that AllenNLP's own imports print are filtered.

All three come from fairscale 0.4.6, which ``allennlp.nn.parallel`` imports: it decorates with
``torch.cuda.amp.custom_fwd`` / ``custom_bwd`` and calls ``torch.jit.script``, each deprecated by
torch. Nothing a user can act on. The filters must be in place before AllenNLP is imported, and
importing anything of ``ere_allennlp`` imports AllenNLP first (the package registers its
components on import): that is why this module is a top-level one, beside the package. Each
filter matches one warning by its whole message, its category (FutureWarning) and the module it
is attributed to, so every other warning, another FutureWarning included, is still shown. They
are installed on import, so the processes AllenNLP spawns from the script (distributed training,
which re-imports the script) have them too.
"""
import re
import warnings
from typing import Dict

# message -> the module the warning is attributed to (the frame `warnings.warn` names).
KNOWN_FUTURE_WARNINGS: Dict[str, str] = {
    "`torch.cuda.amp.custom_fwd(args...)` is deprecated. "
    "Please use `torch.amp.custom_fwd(args..., device_type='cuda')` instead.": "fairscale.experimental.nn.offload",
    "`torch.cuda.amp.custom_bwd(args...)` is deprecated. "
    "Please use `torch.amp.custom_bwd(args..., device_type='cuda')` instead.": "fairscale.experimental.nn.offload",
    "`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`.": "torch.jit._script",
}


def quiet_known_warnings() -> None:
    """Ignores exactly the warnings of `KNOWN_FUTURE_WARNINGS` (idempotent)."""
    for message, module in KNOWN_FUTURE_WARNINGS.items():
        warnings.filterwarnings("ignore", message=re.escape(message) + r"\Z", category=FutureWarning,
                                module=re.escape(module) + r"\Z")


quiet_known_warnings()


def main() -> None:
    from ere_allennlp.cli import main as run

    run()


if __name__ == "__main__":
    main()
