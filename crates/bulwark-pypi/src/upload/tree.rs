//! The tree an archive extracts to, built entry by entry in archive order,
//! so that links are judged by where they resolve rather than by their text.
//!
//! Installers extract sdists with Python's `tarfile` and the `data` filter
//! (PEP 706, "Specification": the filter refuses absolute names, names and
//! link targets that resolve outside the destination, absolute link
//! targets and special files) or with code of their own; the checks here
//! refuse every archive that filter refuses, and more:
//!
//! - a symbolic link must resolve inside the archive both when it is
//!   extracted (as the filter sees it, following the links extracted
//!   before it) and once the whole archive is extracted (so that a later
//!   link cannot move where an earlier one points), and its target read as
//!   text must stay inside too (the filter writes the normalized target);
//! - no entry is written through a link or inside a file: every component
//!   of an entry's path but the last is a directory;
//! - no two entries land on the same path, and no two paths differ only in
//!   case or Unicode normalization form (NFC, NFD), since macOS and
//!   Windows file systems would merge them;
//! - a hard link names a regular file extracted before it (as `tarfile`
//!   requires), spelled exactly.
//!
//! The tree is a trie of path components, so memory grows with the names
//! in the archive, and that is capped by [`MAX_TREE_SIZE`].

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use super::UploadError;
use crate::shown::shown;

/// Most links followed while resolving one link target: Linux's
/// `MAXSYMLINKS`, past which `open` fails with `ELOOP`.
const MAX_LINK_FOLLOWS: u32 = 40;

/// Most path components stepped through while resolving all the link
/// targets of one archive, so that long chains of long targets cannot
/// make resolution slow.
const MAX_RESOLVE_STEPS: u64 = 1 << 24;

/// Bytes charged for each node of the tree on top of its name, roughly
/// what a node and its index entry take in memory.
const NODE_COST: u64 = 64;

/// Most bytes the tree of one archive may take, counting each path
/// component once, plus 64 bytes for its node, and each link target.
pub const MAX_TREE_SIZE: u64 = 64 << 20;

/// Why a link entry is unsafe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkProblem {
    /// The target is empty, not UTF-8, or has a NUL or a backslash.
    #[error("its target is empty, not UTF-8, or has a NUL or a backslash")]
    Malformed,
    /// The target is absolute.
    #[error("its target is absolute")]
    Absolute,
    /// The target resolves outside the archive.
    #[error("it resolves outside the archive")]
    Outside,
    /// Resolving the target follows more than 40 links (Linux's
    /// `MAXSYMLINKS`, past which it fails with `ELOOP`).
    #[error("resolving it follows more than {MAX_LINK_FOLLOWS} links")]
    Loop,
    /// The target goes through a file as if it were a directory.
    #[error("its target goes through a file")]
    ThroughFile,
    /// The target names an entry spelled in a different case or Unicode
    /// normalization form.
    #[error("its target spells an entry in a different case or normalization form")]
    CaseMismatch,
    /// A hard link does not name a regular file extracted before it.
    #[error("it does not name an earlier regular file of the archive")]
    NotEarlierFile,
    /// The archive's links take too many steps to resolve.
    #[error("the archive's links take more than {MAX_RESOLVE_STEPS} steps to resolve")]
    TooComplex,
}

/// What an entry is, as the scanners tell the tree.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind<'a> {
    Dir,
    File,
    /// A symbolic link and its target, as written in the archive.
    Symlink(&'a str),
    /// A hard link and the name of the entry it links to.
    HardLink(&'a str),
}

/// What is at a path of the tree.
enum NodeKind {
    /// A directory that only exists as the parent of other entries.
    ImplicitDir,
    Dir,
    /// A regular file or a hard link to one.
    File,
    Symlink(Box<str>),
}

struct Node {
    name: Box<str>,
    parent: usize,
    kind: NodeKind,
}

/// The root of the tree, the extraction directory.
const ROOT: usize = 0;

/// The extracted tree, as far as the archive has been read.
pub(super) struct Tree {
    nodes: Vec<Node>,
    /// Children by parent and folded name ([`fold`]): one index both finds
    /// an entry and finds the entries its name clashes with in case or
    /// normalization form.
    children: HashMap<(usize, String), usize>,
    symlinks: Vec<usize>,
    size: u64,
    steps: u64,
}

impl Tree {
    pub(super) fn new() -> Self {
        Self {
            nodes: vec![Node {
                name: Box::from(""),
                parent: ROOT,
                kind: NodeKind::Dir,
            }],
            children: HashMap::new(),
            symlinks: Vec::new(),
            size: 0,
            steps: 0,
        }
    }

    /// Adds the entry at `path` (already checked by `path::check`), or
    /// says why extracting it would be unsafe.
    pub(super) fn add(&mut self, path: &str, kind: Kind<'_>) -> Result<(), UploadError> {
        let mut parent = ROOT;
        let mut start = 0;
        let mut components = path.split('/').peekable();
        while let Some(component) = components.next() {
            let end = start + component.len();
            let last = components.peek().is_none();
            let key = (parent, fold(component));
            if let Some(&child) = self.children.get(&key) {
                let node = &mut self.nodes[child];
                if &*node.name != component {
                    return Err(UploadError::CaseClash {
                        first: shown(&format!("{}{}", &path[..start], node.name)),
                        second: shown(path),
                    });
                }
                match (&node.kind, last, kind) {
                    (NodeKind::ImplicitDir | NodeKind::Dir, false, _) => {}
                    (NodeKind::ImplicitDir | NodeKind::Dir, true, Kind::Dir) => {
                        node.kind = NodeKind::Dir;
                        return Ok(());
                    }
                    (NodeKind::Symlink(_), false, _) => {
                        return Err(UploadError::WrittenThroughLink {
                            name: shown(path),
                            link: shown(&path[..end]),
                        });
                    }
                    (NodeKind::File, false, _) => {
                        return Err(UploadError::ParentNotDirectory {
                            name: shown(path),
                            parent: shown(&path[..end]),
                        });
                    }
                    (_, true, _) => return Err(UploadError::DuplicateEntry { name: shown(path) }),
                }
                parent = child;
            } else {
                let node_kind = if last {
                    self.check_new(path, parent, kind)?
                } else {
                    NodeKind::ImplicitDir
                };
                self.charge(component.len())?;
                let child = self.nodes.len();
                if matches!(node_kind, NodeKind::Symlink(_)) {
                    self.symlinks.push(child);
                }
                self.nodes.push(Node {
                    name: Box::from(component),
                    parent,
                    kind: node_kind,
                });
                self.children.insert(key, child);
                parent = child;
            }
            start = end + 1;
        }
        Ok(())
    }

    /// Checks every symbolic link again against the whole extracted tree.
    pub(super) fn finish(&mut self) -> Result<(), UploadError> {
        for index in 0..self.symlinks.len() {
            let link = self.symlinks[index];
            let NodeKind::Symlink(target) = &self.nodes[link].kind else {
                continue;
            };
            let mut steps = self.steps;
            let resolved = self.resolve(self.nodes[link].parent, target, &mut steps);
            self.steps = steps;
            resolved.map_err(|problem| UploadError::UnsafeLink {
                name: shown(&self.path_of(link)),
                problem,
            })?;
        }
        Ok(())
    }

    /// The node for a new entry at `path` in the directory `parent`, after
    /// the checks on a link's target.
    fn check_new(
        &mut self,
        path: &str,
        parent: usize,
        kind: Kind<'_>,
    ) -> Result<NodeKind, UploadError> {
        let unsafe_link = |problem| UploadError::UnsafeLink {
            name: shown(path),
            problem,
        };
        match kind {
            Kind::Dir => Ok(NodeKind::Dir),
            Kind::File => Ok(NodeKind::File),
            Kind::HardLink(target) => {
                check_target_text(target).map_err(unsafe_link)?;
                if super::path::check(target).is_err() || !self.is_file(target) {
                    return Err(unsafe_link(LinkProblem::NotEarlierFile));
                }
                Ok(NodeKind::File)
            }
            Kind::Symlink(target) => {
                check_target_text(target).map_err(unsafe_link)?;
                if !stays_inside_as_text(path, target) {
                    return Err(unsafe_link(LinkProblem::Outside));
                }
                let mut steps = self.steps;
                let resolved = self.resolve(parent, target, &mut steps);
                self.steps = steps;
                resolved.map_err(unsafe_link)?;
                self.charge(target.len())?;
                Ok(NodeKind::Symlink(Box::from(target)))
            }
        }
    }

    /// Whether `path`, spelled exactly and through directories only, is a
    /// regular file of the tree.
    fn is_file(&self, path: &str) -> bool {
        let mut here = ROOT;
        for component in path.split('/') {
            if !matches!(self.nodes[here].kind, NodeKind::ImplicitDir | NodeKind::Dir) {
                return false;
            }
            match self.children.get(&(here, fold(component))) {
                Some(&child) if &*self.nodes[child].name == component => here = child,
                _ => return false,
            }
        }
        matches!(self.nodes[here].kind, NodeKind::File)
    }

    /// Resolves `target` from the directory `dir` as `os.path.realpath`
    /// does on the tree as it is now (PEP 706 resolves with
    /// `realpath`): links are followed, missing components are taken as
    /// written, and `..` goes to the parent of where the path has got to.
    fn resolve(&self, dir: usize, target: &str, steps: &mut u64) -> Result<(), LinkProblem> {
        // Where the path has got to, below the root: a node, or `None`
        // for a component that does not exist (yet).
        let mut at: Vec<Option<usize>> = Vec::new();
        let mut up = dir;
        while up != ROOT {
            at.push(Some(up));
            up = self.nodes[up].parent;
        }
        at.reverse();
        let mut pending: Vec<&str> = target.split('/').rev().collect();
        let mut follows = 0;
        while let Some(component) = pending.pop() {
            *steps += 1;
            if *steps > MAX_RESOLVE_STEPS {
                return Err(LinkProblem::TooComplex);
            }
            let here = at.last().copied().unwrap_or(Some(ROOT));
            if component.is_empty() || component == "." {
                continue;
            }
            if here.is_some_and(|node| matches!(self.nodes[node].kind, NodeKind::File)) {
                return Err(LinkProblem::ThroughFile);
            }
            if component == ".." {
                at.pop().ok_or(LinkProblem::Outside)?;
                continue;
            }
            let child = here.and_then(|node| self.children.get(&(node, fold(component))));
            let Some(&child) = child else {
                at.push(None);
                continue;
            };
            let node = &self.nodes[child];
            if &*node.name != component {
                return Err(LinkProblem::CaseMismatch);
            }
            if let NodeKind::Symlink(next) = &node.kind {
                follows += 1;
                if follows > MAX_LINK_FOLLOWS {
                    return Err(LinkProblem::Loop);
                }
                pending.extend(next.split('/').rev());
            } else {
                at.push(Some(child));
            }
        }
        Ok(())
    }

    /// The path of a node, for messages.
    fn path_of(&self, mut node: usize) -> String {
        let mut names = Vec::new();
        while node != ROOT {
            names.push(&*self.nodes[node].name);
            node = self.nodes[node].parent;
        }
        names.reverse();
        names.join("/")
    }

    fn charge(&mut self, name_len: usize) -> Result<(), UploadError> {
        self.size = self.size.saturating_add(name_len as u64 + NODE_COST);
        if self.size > MAX_TREE_SIZE {
            return Err(UploadError::TreeTooLarge {
                limit: MAX_TREE_SIZE,
            });
        }
        Ok(())
    }
}

/// The key two names share when a file system would take them for one:
/// macOS file systems ignore case and the Unicode normalization form (`ü`
/// and `u` followed by U+0308 are one name), Windows ignores case. The
/// name is put in NFC, then upper case, then lower case, so that `ß` meets
/// `ss`, `ſ` meets `s` and the Kelvin sign meets `k` (Unicode default case
/// conversion, not full case folding), and in NFC again, since case
/// conversion can decompose. Names ending in `.` or a space, which Windows
/// strips, never get here (`path::check` refuses them).
fn fold(name: &str) -> String {
    if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        let upper = name.nfc().collect::<String>().to_uppercase();
        upper.to_lowercase().nfc().collect()
    }
}

/// Refuses a link target that no extractor reads the same way everywhere,
/// and absolute ones (PEP 706 refuses those as `AbsoluteLinkError`).
fn check_target_text(target: &str) -> Result<(), LinkProblem> {
    if target.is_empty() || target.contains(['\0', '\\']) {
        return Err(LinkProblem::Malformed);
    }
    let bytes = target.as_bytes();
    if bytes[0] == b'/' || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err(LinkProblem::Absolute);
    }
    Ok(())
}

/// Whether the symbolic link at `link` with `target`, read as text and
/// normalized (as the `data` filter rewrites it with `os.path.normpath`),
/// stays inside the archive.
fn stays_inside_as_text(link: &str, target: &str) -> bool {
    let mut depth = link.split('/').count() - 1;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symlink(tree: &mut Tree, path: &str, target: &str) -> Result<(), UploadError> {
        tree.add(path, Kind::Symlink(target))
    }

    fn problem(result: Result<(), UploadError>) -> LinkProblem {
        match result {
            Err(UploadError::UnsafeLink { problem, .. }) => problem,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_of_a_target_must_stay_inside() {
        assert!(stays_inside_as_text("pkg-1.0/a/link", "../b/file"));
        assert!(stays_inside_as_text("pkg-1.0/link", "./x"));
        assert!(stays_inside_as_text("pkg-1.0/a/link", "../../pkg-1.0/x"));
        assert!(!stays_inside_as_text("pkg-1.0/link", "../../etc/passwd"));
        assert!(!stays_inside_as_text("link", "../x"));
        assert_eq!(check_target_text("/etc/passwd"), Err(LinkProblem::Absolute));
        assert_eq!(check_target_text("C:/x"), Err(LinkProblem::Absolute));
        assert_eq!(check_target_text("a\\b"), Err(LinkProblem::Malformed));
        assert_eq!(check_target_text(""), Err(LinkProblem::Malformed));
    }

    #[test]
    fn links_resolve_through_earlier_links() {
        let mut tree = Tree::new();
        tree.add("p/a/b", Kind::Dir).unwrap();
        symlink(&mut tree, "p/a/b/up", "../..").unwrap();
        // Through `up` (which is `p`), `a/b/up/..` is the root.
        symlink(&mut tree, "p/l1", "a/b/up/..").unwrap();
        // As text one level below `p`; through `up`, above the root.
        assert!(stays_inside_as_text("p/l2", "a/b/up/../.."));
        assert_eq!(
            problem(symlink(&mut tree, "p/l2", "a/b/up/../..")),
            LinkProblem::Outside
        );
        // A missing component is taken as written.
        symlink(&mut tree, "p/later", "missing/x").unwrap();
        tree.finish().unwrap();
    }

    #[test]
    fn a_later_link_cannot_move_an_earlier_one() {
        let mut tree = Tree::new();
        // At extraction `s` is missing, so `s/../..` is the root.
        symlink(&mut tree, "p/l", "s/../..").unwrap();
        // `s` then points at the root, so `l` points above it.
        symlink(&mut tree, "p/s", "..").unwrap();
        let error = tree.finish().unwrap_err();
        assert_eq!(
            error,
            UploadError::UnsafeLink {
                name: "\"p/l\"".to_owned(),
                problem: LinkProblem::Outside
            }
        );
    }

    #[test]
    fn loops_and_files_as_directories_are_refused() {
        let mut tree = Tree::new();
        symlink(&mut tree, "p/a", "b").unwrap();
        symlink(&mut tree, "p/b", "a").unwrap();
        assert_eq!(problem(tree.finish()), LinkProblem::Loop);

        let mut tree = Tree::new();
        tree.add("p/file", Kind::File).unwrap();
        assert_eq!(
            problem(symlink(&mut tree, "p/l", "file/..")),
            LinkProblem::ThroughFile
        );
        assert_eq!(
            problem(symlink(&mut tree, "p/m", "FILE")),
            LinkProblem::CaseMismatch
        );
    }

    #[test]
    fn hard_links_name_an_earlier_file_exactly() {
        let mut tree = Tree::new();
        tree.add("p/file", Kind::File).unwrap();
        tree.add("p/dir", Kind::Dir).unwrap();
        symlink(&mut tree, "p/sym", "file").unwrap();
        tree.add("p/h1", Kind::HardLink("p/file")).unwrap();
        tree.add("p/h2", Kind::HardLink("p/h1")).unwrap();
        for target in ["p/dir", "p/sym", "p/later", "P/file", "p/./file", "../x"] {
            assert_eq!(
                problem(tree.add("p/h3", Kind::HardLink(target))),
                LinkProblem::NotEarlierFile,
                "{target}"
            );
        }
        assert_eq!(
            problem(tree.add("p/h3", Kind::HardLink("/etc/passwd"))),
            LinkProblem::Absolute
        );
    }

    #[test]
    fn names_fold_beyond_ascii() {
        assert_eq!(fold("DELTA.py"), fold("delta.py"));
        assert_eq!(fold("STRASSE"), fold("straße"));
        assert_eq!(fold("\u{212a}"), fold("k"));
        // NFC and NFD spellings meet, as on macOS, with case too.
        assert_eq!(fold("e\u{301}"), fold("\u{e9}"));
        assert_eq!(fold("U\u{308}"), fold("\u{fc}"));
        assert_ne!(fold("u"), fold("\u{fc}"));
    }
}
