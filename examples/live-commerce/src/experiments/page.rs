//! Each experiment keeps its docs page current: a run in table mode
//! rewrites the page's "latest run" block with the outcome, the command
//! that produced it and the date, between two markers, leaving the rest of
//! the page (the analysis a person wrote) as it is. A page without the
//! markers gets the block appended. `--json` runs are for scripts and write
//! nothing.

use std::path::{Path, PathBuf};

use anyhow::Context;

const BEGIN: &str = "<!-- latest run: begin (written by the experiment) -->";
const END: &str = "<!-- latest run: end -->";

/// Where an experiment writes its page (`--out`).
#[derive(Debug, Clone, clap::Args)]
pub struct PageOut {
    /// The directory of the experiment's docs page (`<dir>/<experiment>.md`);
    /// `none` writes no page.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
}

impl PageOut {
    /// Records `outcome` (the printed table) in `<out>/<page>`, unless
    /// `--out none`.
    pub fn record(&self, page: &str, outcome: &str) -> anyhow::Result<()> {
        if self.out == Path::new("none") {
            return Ok(());
        }
        let path = self.out.join(page);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let block = block(
            &command_line(),
            &chrono::Utc::now().format("%Y-%m-%d"),
            outcome,
        );
        std::fs::create_dir_all(&self.out)?;
        std::fs::write(&path, replace_block(&old, &block))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the latest run into {}", path.display());
        Ok(())
    }
}

/// The command as it was run, program name shortened.
fn command_line() -> String {
    let mut args = std::env::args();
    let _program = args.next();
    std::iter::once("live-commerce".to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

fn block(command: &str, date: &impl std::fmt::Display, outcome: &str) -> String {
    format!(
        "{BEGIN}\n## The latest run\n\n`{command}` on {date} printed:\n\n```text\n{}\n```\n{END}\n",
        outcome.trim_end()
    )
}

/// `page` with its block replaced by `block` (appended when it has none).
fn replace_block(page: &str, block: &str) -> String {
    match (page.find(BEGIN), page.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let rest = &page[end + END.len()..];
            format!(
                "{}{block}{}",
                &page[..begin],
                rest.strip_prefix('\n').unwrap_or(rest)
            )
        }
        _ if page.is_empty() => block.to_string(),
        _ => format!("{}\n\n{block}", page.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_appended_once_then_replaced_in_place() {
        let first = replace_block("# Page\n\nAnalysis.\n", &block("cmd a", &"d1", "t1"));
        assert!(first.starts_with("# Page\n\nAnalysis.\n\n<!--"));
        let second = replace_block(
            &format!("{first}\nMore text.\n"),
            &block("cmd b", &"d2", "t2"),
        );
        assert_eq!(second.matches(BEGIN).count(), 1);
        assert!(second.contains("`cmd b` on d2") && !second.contains("t1"));
        assert!(second.ends_with("More text.\n"));
    }
}
