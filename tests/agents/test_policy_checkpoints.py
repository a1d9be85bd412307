"""Policy checkpoints (``AgentModel.save``, format 2) load with plain transformers and peft calls, with
the same logits as sparring's own ``AgentModel.load``; format 1 checkpoints (subfolders) still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from sparring.agents.policy import METADATA, AgentModel, ValueHead, quiet_peft, relocate  # noqa: E402
from sparring.agents.zoo import load_agent_model, model_path  # noqa: E402

TEXT = ["go to the kitchen and take the apple", "look"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the same reductions in every forward, whichever loader built the model
    yield
    torch.set_num_threads(previous)


def nudge(policy: AgentModel, seed: int = 0) -> AgentModel:
    """Moves the trainable weights (the adapter's, or all) away from the base, deterministically."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name or not policy.has_adapter:
                p.add_(0.02 * torch.randn(p.shape, generator=generator))
    return policy


def logits(model, tokenizer) -> torch.Tensor:
    tokenizer.padding_side = "left"  # sparring's side; transformers 5 does not save it: the same batch for all
    batch = tokenizer(TEXT, return_tensors="pt", padding=True)
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def sparring_logits(path: Path) -> torch.Tensor:
    loaded = AgentModel.load(path)
    return logits(loaded.model, loaded.tokenizer)


def adapter_base(path: Path) -> str:
    return json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]


def assert_plain_adapter_loads(path: Path, expected: torch.Tensor) -> None:
    """The calls a user without sparring makes: peft's auto class, transformers' peft integration,
    and PeftModel on the base that adapter_config.json names; the tokenizer from the root."""
    from peft import AutoPeftModelForCausalLM, PeftModel

    tokenizer = AutoTokenizer.from_pretrained(path)
    with quiet_peft():  # a FutureWarning of transformers' that peft triggers
        assert torch.equal(logits(AutoPeftModelForCausalLM.from_pretrained(path), tokenizer), expected)
        assert torch.equal(logits(AutoModelForCausalLM.from_pretrained(path), tokenizer), expected)
        base = AutoModelForCausalLM.from_pretrained(adapter_base(path))
        assert torch.equal(logits(PeftModel.from_pretrained(base, path), tokenizer), expected)


def test_full_weights_load_with_plain_transformers(tiny, tmp_path):
    policy = nudge(load_agent_model("tiny"))
    path = policy.save(tmp_path / "ckpt")
    assert {"config.json", "model.safetensors", "tokenizer.json", METADATA} <= {p.name for p in path.iterdir()}
    assert not any(p.is_dir() for p in path.iterdir())
    expected = sparring_logits(path)
    assert torch.equal(expected, logits(policy.model, policy.tokenizer))
    assert not torch.equal(expected, logits(tiny[0], tiny[1]))
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer(TEXT)["input_ids"] == policy.tokenizer(TEXT)["input_ids"]
    assert tokenizer.chat_template == policy.tokenizer.chat_template
    assert tokenizer.pad_token == policy.tokenizer.pad_token
    assert torch.equal(logits(AutoModelForCausalLM.from_pretrained(path), tokenizer), expected)


def test_lora_on_a_zoo_base_loads_with_plain_peft_and_a_value_head_beside(tiny, tmp_path):
    policy = load_agent_model("tiny")
    policy.add_lora(r=4)
    nudge(policy)
    head = policy.add_value_head()
    with torch.no_grad():
        head.net[2].weight.normal_()
    path = policy.save(tmp_path / "ckpt")
    assert (path / "adapter_model.safetensors").is_file() and not (path / "base").exists()
    # peft is pointed at the zoo's cache directory; sparring keeps the portable name
    assert adapter_base(path) == str(model_path("tiny").absolute())
    meta = json.loads((path / METADATA).read_text())
    assert meta["format"] == 2 and meta["base_model"] == "tiny" and meta["adapter"]
    loaded = AgentModel.load(path)
    assert loaded.base_model == "tiny" and not loaded.embed_base
    expected = logits(loaded.model, loaded.tokenizer)
    assert torch.equal(expected, logits(policy.model, policy.tokenizer))
    assert_plain_adapter_loads(path, expected)
    # the value head: safetensors beside, its sizes in sparring_agent.json
    plain_head = ValueHead(meta["value_head"]["hidden_size"], meta["value_head"]["inner_size"])
    plain_head.load_state_dict(load_file(path / "value_head.safetensors"))
    hidden = torch.randn(3, meta["value_head"]["hidden_size"])
    with torch.no_grad():
        assert torch.equal(plain_head(hidden), loaded.value_head(hidden))
        assert torch.equal(plain_head(hidden), head(hidden)) and plain_head(hidden).abs().sum() > 0


def test_an_embedded_base_is_named_by_its_path_and_follows_a_copy(tiny, tmp_path):
    from sparring.benchmarks.agent_specs import model_fingerprint

    policy = load_agent_model("tiny")
    policy.add_lora(r=4)
    nudge(policy)
    policy.freeze_as_base()  # SFT, then a new adapter on top
    policy.add_lora(r=4)
    nudge(policy, seed=1)
    path = policy.save(tmp_path / "ckpt")
    assert adapter_base(path) == str((path / "base").absolute())
    assert json.loads((path / METADATA).read_text())["base_model"] == "base"
    expected = sparring_logits(path)
    assert torch.equal(expected, logits(policy.model, policy.tokenizer))
    assert_plain_adapter_loads(path, expected)
    # a copy, relocated, names its own base/, and keeps the checkpoint's fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    relocate(copy)
    assert adapter_base(copy) == str((copy / "base").absolute())
    assert model_fingerprint(str(copy)) == model_fingerprint(str(path))
    shutil.rmtree(path)
    assert_plain_adapter_loads(copy, expected)
    assert torch.equal(sparring_logits(copy), expected)


def test_a_checkpoint_staged_elsewhere_names_its_base_where_it_is_published(tiny, tmp_path):
    from sparring.trainers.run_dir import save_checkpoint

    policy = load_agent_model("tiny")
    policy.freeze_as_base()
    policy.add_lora(r=4)
    nudge(policy)
    target = save_checkpoint(tmp_path / "iter-1", models={"policy": policy}, json_files={"state.json": {}})
    path = target / "policy"
    assert adapter_base(path) == str((path / "base").absolute())
    assert_plain_adapter_loads(path, sparring_logits(path))


def test_an_adapter_on_full_weights_from_a_checkpoint_embeds_them(tiny, tmp_path):
    full = nudge(load_agent_model("tiny")).save(tmp_path / "full")
    policy = load_agent_model(str(full), trainable=True)
    assert policy.embed_base  # these weights are not the base "tiny" any more
    policy.add_lora(r=4)
    nudge(policy)
    path = policy.save(tmp_path / "ckpt")
    assert json.loads((path / METADATA).read_text())["base_model"] == "base"
    expected = sparring_logits(path)
    assert torch.equal(expected, logits(policy.model, policy.tokenizer))
    assert_plain_adapter_loads(path, expected)


def write_format_1(policy: AgentModel, path: Path) -> None:
    """The layout sparring wrote before format 2: the parts in subfolders."""
    path.mkdir()
    if policy.has_adapter:
        policy.model.save_pretrained(path / "adapter")
        config = json.loads((path / "adapter" / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = policy.base_model
        (path / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    else:
        policy.model.save_pretrained(path / "model")
    policy.tokenizer.save_pretrained(path / "tokenizer")
    head = policy.value_head
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, path / "value_head.safetensors")
    (path / METADATA).write_text(json.dumps({
        "format": 1, "base_model": policy.base_model, "adapter": policy.has_adapter,
        "value_head": {"hidden_size": head.hidden_size, "inner_size": head.inner_size}}))


@pytest.mark.parametrize("adapter", [True, False], ids=["adapter", "full"])
def test_format_1_checkpoints_still_load(tiny, tmp_path, adapter):
    policy = load_agent_model("tiny")
    if adapter:
        policy.add_lora(r=4)
    nudge(policy)
    head = policy.add_value_head()
    with torch.no_grad():
        head.net[2].weight.normal_()
    write_format_1(policy, tmp_path / "old")
    loaded = load_agent_model(str(tmp_path / "old"))
    assert loaded.has_adapter == adapter and loaded.base_model == "tiny"
    assert torch.equal(logits(loaded.model, loaded.tokenizer), logits(policy.model, policy.tokenizer))
    hidden = torch.randn(2, head.hidden_size)
    with torch.no_grad():
        assert torch.equal(loaded.value_head(hidden), head(hidden))
    # saved again, it is a format 2 checkpoint with the same policy
    again = loaded.save(tmp_path / "new")
    assert json.loads((again / METADATA).read_text())["format"] == 2
    assert torch.equal(sparring_logits(again), logits(policy.model, policy.tokenizer))


def test_an_unknown_format_is_refused_with_what_to_do(tmp_path):
    from sparring.errors import SparringError

    (tmp_path / METADATA).write_text(json.dumps({"format": 99}))
    with pytest.raises(SparringError, match="format 99.*upgrade sparring"):
        AgentModel.load(tmp_path)


def test_a_plain_peft_adapter_directory_is_saved_on_its_own_base(tiny, tmp_path):
    policy = load_agent_model("tiny")
    policy.add_lora(r=4)
    nudge(policy)
    policy.model.save_pretrained(tmp_path / "peft")  # what peft alone writes: the base named as it was loaded
    loaded = load_agent_model(str(tmp_path / "peft"))
    assert loaded.has_adapter and loaded.base_model == adapter_base(tmp_path / "peft")
    expected = logits(policy.model, policy.tokenizer)
    path = loaded.save(tmp_path / "ckpt")
    assert torch.equal(sparring_logits(path), expected)  # the adapter once, on the base it names
    assert_plain_adapter_loads(path, expected)
