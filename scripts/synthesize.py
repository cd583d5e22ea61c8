"""Job of rule synthesize: optimise the spectrograms of one shard's rows (textures or style transfers)."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import synthesize_files, write_shard_record

smk = snakemake  # noqa: F821 - injected by Snakemake
rows = [dict(row) for row in smk.params.rows]


def work(log):
    results = synthesize_files(rows, device=smk.params.device, checkpoint_every=smk.params.checkpoint_every,
                               save_every=smk.params.save_every, log=log)
    return write_shard_record(results, smk.output.record, stamp=smk.params.remake)


sys.exit(run_job(smk.log[0], f"synthesize shard {smk.wildcards.shard}: {len(rows)} rows "
                 f"({', '.join(row['id'] for row in rows)}) on device {smk.params.device}", work,
                 threads=smk.threads))
