"""Masked skeleton pretraining with Accelerate, on one process or many.

The data order and the schedule depend only on the seed and the step, not on the number of processes: every step
consumes one global batch (`batch_size` clips per process), split across processes; each clip's mask depends on
the seed, the step and the clip only. So two processes at batch B follow the same trajectory as one process at batch
2B (up to float summation order, when dropout is off and every rank masks as many tokens). Checkpoints
(`accelerator.save_state`) are written to `checkpoint-<step>` atomically; `resume_from_checkpoint` continues from
the latest complete one (or a given folder) and reaches the same weights as an uninterrupted run. The result is
saved with `save_pretrained` together with its feature extractor, ready for `finetune` (`--model`).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoModelForPreTraining, HfArgumentParser, get_cosine_schedule_with_warmup
from transformers.utils import SAFE_WEIGHTS_NAME

from ..data.collator import AugmentedDataset, SkeletonCollator
from ..data.model_inputs import feature_extractor_for
from ..hub import render_pretraining_card, write_model_card
from .arguments import DataArguments, PretrainArguments
from .common import (
    DataGeometry,
    build_config,
    earlier_run_files,
    latest_complete_checkpoint,
    layout_for,
    load_config_overrides,
    load_dataset_dict,
    parameter_groups,
    recipe_augmentation,
    remove_paths,
    warn_if_bf16_is_slow,
)
from .console import format_log, quiet_progress_bars
from .recipes import FINETUNE_RECIPES

# A small encoder that pretrains in about a minute on a laptop CPU (used without --preset / --config).
EMBEDDED_MODEL = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "max_frames": 64,
}
STATE_FILE = "pretrain_state.json"
LOG_FILE = "pretrain_log.jsonl"
SUMMARY_FILE = "pretrain_summary.json"


def parse_pretrain_args(
    argv: Sequence[str] | None = None, prog: str | None = None
) -> tuple[DataArguments, PretrainArguments]:
    """The command line of pretraining."""
    parser = HfArgumentParser((DataArguments, PretrainArguments), prog=prog, description=__doc__)
    return parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)


def global_batches(num_clips: int, global_batch: int, seed: int, start_step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(step, clip indices) of every global batch from `start_step` on; epoch e is shuffled with seed (seed, e).

    The last incomplete batch of an epoch is dropped so every process always gets the same number of clips."""
    steps_per_epoch = num_clips // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"the dataset has {num_clips} clips, fewer than one global batch of {global_batch}")
    step = start_step
    while True:
        epoch, offset = divmod(step, steps_per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(num_clips)
        yield step, order[offset * global_batch : (offset + 1) * global_batch]
        step += 1


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, keep: int) -> None:
    """`save_state` into a temporary folder, renamed into place only once complete."""
    final = output_dir / f"checkpoint-{step}"
    staging = output_dir / f"checkpoint-{step}.tmp"
    if accelerator.is_main_process and staging.exists():
        shutil.rmtree(staging)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (staging / STATE_FILE).write_text(json.dumps({"step": step}))
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        checkpoints = sorted(
            (p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
            key=lambda p: int(p.name.split("-")[-1]),
        )
        for old in checkpoints[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def truncate_log(log_file: Path, last_step: int) -> None:
    """Keep the log records up to `last_step`: a resumed run logs the steps after its checkpoint again."""
    if not log_file.is_file():
        return
    kept = [line for line in log_file.read_text().splitlines() if line and json.loads(line)["step"] <= last_step]
    log_file.write_text("".join(line + "\n" for line in kept))


def clip_noise(indices: np.ndarray, step: int, seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Masking noise `(len(indices), *shape)`, each clip's a function of (seed, step, clip index) only: a clip gets
    the same mask whichever process and batch it lands in, and again after a resume."""
    return torch.stack(
        [
            torch.rand(
                shape,
                generator=torch.Generator().manual_seed(
                    int(np.random.SeedSequence([seed, step, int(i)]).generate_state(1)[0])
                ),
            )
            for i in indices
        ]
    )


def pretrain(data_args: DataArguments, args: PretrainArguments) -> Path:
    """Pretrain an encoder by masked skeleton modeling; returns the output folder (model and feature extractor)."""
    trackers = [] if args.report_to in ("none", "") else args.report_to.split(",")
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=(trackers if trackers != ["all"] else "all") or None,
        project_dir=args.output_dir,
        # Without a GPU, cpu=True makes `accelerate launch --multi_gpu` / torchrun ranks run distributed (gloo).
        cpu=not (torch.cuda.is_available() or torch.backends.mps.is_available()),
    )
    if accelerator.mixed_precision == "bf16":
        warn_if_bf16_is_slow(accelerator.device)
    set_seed(args.seed)
    output_dir = Path(args.output_dir)
    replaced = []
    if not args.resume_from_checkpoint:
        replaced = earlier_run_files(output_dir, SUMMARY_FILE, (SUMMARY_FILE, LOG_FILE, SAFE_WEIGHTS_NAME))
    accelerator.wait_for_everyone()  # every process has looked before the main one deletes
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        if replaced:
            print(f"replacing the finished run in {output_dir}: {', '.join(p.name for p in replaced)}")
        remove_paths(replaced)

    dataset = load_dataset_dict(data_args.dataset, data_args.dataset_config, seed=args.seed)["train"].with_format(
        "numpy"
    )
    geometry = DataGeometry.of(dataset)
    overrides = load_config_overrides(args.config)
    if args.objective:
        overrides["pretraining_objective"] = args.objective
    config = build_config(geometry, args.preset, EMBEDDED_MODEL, overrides)
    model = AutoModelForPreTraining.from_config(config)
    centring = {} if args.root_joint is None else {"root_joint": args.root_joint}
    extractor = feature_extractor_for(
        config,
        layout_for(geometry),
        num_frames=args.num_frames,
        resampling="interpolate",
        scale_normalization=args.scale_normalization,
        **centring,
    )
    collate = SkeletonCollator(extractor, include_labels=False)
    # Augmented clips are a function of (seed, epoch, clip), like the masks of (seed, step, clip): resume stays exact.
    clips = dataset
    if args.augmentation != "none":
        recipe = {} if args.augmentation == "default" else FINETUNE_RECIPES[args.augmentation]
        clips = AugmentedDataset(dataset, recipe_augmentation(recipe, geometry), seed=args.seed)

    global_batch = args.batch_size * accelerator.num_processes
    steps_per_epoch = len(dataset) // global_batch
    total_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(parameter_groups(model, args.weight_decay), lr=args.learning_rate, betas=(0.9, 0.95))
    updates = math.ceil(total_steps / args.gradient_accumulation_steps)
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(args.warmup_ratio * updates), updates)
    model, optimizer = accelerator.prepare(model, optimizer)
    # The scheduler is not prepared: a prepared one steps once per process at every call, as if each process read
    # its own batches, which would run the schedule twice as fast on two processes. Here a step is one global batch.
    accelerator.register_for_checkpointing(scheduler)
    unwrapped = accelerator.unwrap_model(model)
    # Whether the objective's loss is a mean over masked tokens (weighted across processes below) or holds
    # statistics of each process's batch (GFP's covariance and variance terms): the objective says which.
    token_mean_loss = unwrapped.loss_is_token_mean

    start_step = 0
    resume = args.resume_from_checkpoint
    checkpoint = (
        latest_complete_checkpoint(output_dir, STATE_FILE) if resume == "latest" else Path(resume) if resume else None
    )
    if resume and checkpoint is None:
        accelerator.print(f"no complete checkpoint in {output_dir}; starting from scratch")
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        start_step = json.loads((checkpoint / STATE_FILE).read_text())["step"]
        accelerator.print(f"resumed from {checkpoint} at step {start_step}")

    log_file = output_dir / LOG_FILE
    if accelerator.is_main_process:
        truncate_log(log_file, start_step)
    if args.disable_tqdm:
        quiet_progress_bars()
    if trackers:
        accelerator.init_trackers("pretrain", config={k: v for k, v in vars(args).items() if v is not None})
    # A bar on a terminal; redirected, one plain line per logged step instead (no carriage returns in log files).
    progress = tqdm(
        total=total_steps,
        initial=start_step,
        desc="pretraining",
        disable=args.disable_tqdm or not accelerator.is_local_main_process,
    )
    model.train()
    started = time.perf_counter()
    for step, indices in global_batches(len(dataset), global_batch, args.seed, start_step):
        if step >= total_steps:
            break
        local = indices[accelerator.process_index :: accelerator.num_processes]
        if isinstance(clips, AugmentedDataset):
            clips.set_epoch(step // steps_per_epoch)
            batch = collate(clips.__getitems__(local.tolist()))
        else:
            batch = collate(dataset[local.tolist()])
        skeletons = batch["skeletons"]
        noise_shape = (*skeletons.shape[1:-3], *unwrapped.mask_noise_shape(skeletons.shape[-3]))
        batch["noise"] = clip_noise(local, step, args.seed, noise_shape)
        batch = {key: value.to(accelerator.device) for key, value in batch.items()}
        with accelerator.accumulate(model):
            output = model(**batch)
            share = torch.ones((), device=accelerator.device)
            if token_mean_loss and accelerator.num_processes > 1:
                # The objective averages over this process's masked tokens and DDP averages the processes; weighting
                # by the local share of masked tokens makes that the mean over the global batch, as on one process.
                count = output.mask.sum().float()
                share = count * accelerator.num_processes / accelerator.reduce(count, reduction="sum")
            accelerator.backward(output.loss * share)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if accelerator.sync_gradients:
                scheduler.step()
            optimizer.zero_grad()
        progress.update(1)
        done = step + 1
        if done % args.log_every == 0 or done == total_steps:
            terms = {"loss": output.loss.detach(), **{k: v.detach() for k, v in (output.losses or {}).items()}}
            terms = {k: v * share for k, v in terms.items()}
            terms = {k: accelerator.reduce(v.float(), reduction="mean").item() for k, v in terms.items()}
            record = {"step": done, "lr": scheduler.get_last_lr()[0], **terms}
            progress.set_postfix({k: f"{v:.4f}" for k, v in terms.items()})
            accelerator.log({k: v for k, v in record.items() if k != "step"}, step=done)
            if accelerator.is_main_process:
                with log_file.open("a") as log:
                    log.write(json.dumps(record) + "\n")
                if args.disable_tqdm:
                    print(format_log(done, total_steps, {k: v for k, v in record.items() if k != "step"}), flush=True)
        if done % args.checkpoint_every == 0 and done < total_steps:
            save_checkpoint(accelerator, output_dir, done, args.keep_checkpoints)
    progress.close()

    accelerator.wait_for_everyone()
    # One checksum of the weights per process, kept in the summary file: data-parallel ranks must end with identical
    # parameters (tests/test_multiprocess.py checks them).
    checksum = torch.stack([p.detach().double().sum() for p in unwrapped.parameters()]).sum().reshape(1)
    checksums = accelerator.gather(checksum.to(accelerator.device)).tolist()
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir)
        extractor.save_pretrained(output_dir)
        elapsed = time.perf_counter() - started
        summary = {
            "steps": total_steps,
            "processes": accelerator.num_processes,
            "clips_per_step": global_batch,
            "seconds": round(elapsed, 1),
            "parameter_checksums": checksums,
        }
        last = _last_record(log_file)
        card = render_pretraining_card(
            unwrapped.config,
            model_name=output_dir.name,
            num_parameters=sum(p.numel() for p in unwrapped.parameters()),
            dataset={"name": data_args.dataset, "id": data_args.dataset, "config": data_args.dataset_config},
            training=(
                f"Pretrained by `{unwrapped.config.pretraining_objective}` masked skeleton modeling with "
                f"`hf_cascadeformer.training.pretrain`: AdamW, peak learning rate {args.learning_rate:g}, cosine "
                f"schedule, {total_steps} steps of {global_batch} clips on {accelerator.num_processes} process(es)."
            ),
            results={k: v for k, v in last.items() if k not in ("step", "lr")},
        )
        write_model_card(output_dir, card)
        # written last: it marks the run as finished (see earlier_run_files)
        (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
        losses = "  ".join(f"{k} {v:.4f}" for k, v in last.items() if k not in ("step", "lr"))
        processes = f"{accelerator.num_processes} process" + ("es" if accelerator.num_processes > 1 else "")
        print(
            f"pretrained {total_steps} steps on {processes} ({global_batch} clips per step) in {elapsed:.1f} s"
            + (f"; last logged step {last['step']}: {losses}" if last else "")
        )
        print(f"saved to {output_dir}")
    # Teardown order matters with gloo: a worker thread that ran the last collective may still have to take the GIL
    # to free its tensors. The barrier waits with the GIL released, and freeing the DDP wrapper first means the
    # process group is not destroyed inside the Reducer's destructor (which holds the GIL while it joins those
    # threads and so hung about one run in ten).
    accelerator.wait_for_everyone()
    del model, optimizer
    accelerator.free_memory()
    accelerator.end_training()
    return output_dir


def _last_record(log_file: Path) -> dict[str, float]:
    lines = log_file.read_text().splitlines() if log_file.is_file() else []
    return json.loads(lines[-1]) if lines else {}


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> Path:
    """`cascadeformer pretrain` / `examples/pretrain.py`: parse the command line and pretrain."""
    return pretrain(*parse_pretrain_args(argv, prog))
