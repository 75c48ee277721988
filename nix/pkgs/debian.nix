# Helpers that import files of installed Debian packages into the Nix store.
#
# Part of the stand-in package set (see default.nix): it repackages binaries
# already installed on this Debian machine, because the network reaches no
# nixpkgs and no Nix cache. Nothing here downloads anything.
#
# `tree name debs` is a store path holding exactly the files dpkg lists for the
# given Debian packages (read from /var/lib/dpkg/info/<pkg>.list at evaluation
# time), laid out as on the host (usr/bin/..., usr/lib/...). Paths are
# normalised for merged /usr (/lib/x -> /usr/lib/x), documentation is left out.
{ dpkgInfo }:
let
  inherit (builtins)
    any
    concatLists
    concatMap
    filter
    genericClosure
    isString
    listToAttrs
    map
    pathExists
    readFile
    split
    substring
    stringLength
    ;

  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;

  # dpkg names the list of a multi-arch package <pkg>:<arch>.list.
  listFile =
    pkg:
    let
      archQualified = "${dpkgInfo}/${pkg}:amd64.list";
      plain = "${dpkgInfo}/${pkg}.list";
    in
    if pathExists archQualified then
      archQualified
    else if pathExists plain then
      plain
    else
      throw "Debian package '${pkg}' is not installed on this machine (no ${plain}); scripts/setup.d/40-nix.sh installs what the package set needs";

  lines = s: filter (l: isString l && l != "" && l != "/." && l != "/") (split "\n" s);

  # merged /usr: /lib, /bin, /sbin and /lib64 are symlinks into /usr
  normalise =
    p:
    if any (d: hasPrefix "/${d}/" p) [
      "lib"
      "bin"
      "sbin"
      "lib64"
      "lib32"
      "libx32"
    ] then
      "/usr${p}"
    else
      p;

  excluded = [
    "/usr/share/doc"
    "/usr/share/man"
    "/usr/share/info"
    "/usr/share/lintian"
    "/usr/share/locale"
    "/usr/share/bug"
    "/usr/share/gdb"
    "/usr/lib/debug"
    "/etc"
    "/var"
  ];
  keepPath = p: !(any (e: p == e || hasPrefix "${e}/" p) excluded);

  debFiles = pkg: filter keepPath (map normalise (lines (readFile (listFile pkg))));

  # Every listed file plus its ancestor directories: the filter must let
  # builtins.path descend into a directory to reach a file in it.
  withAncestors =
    files:
    map (x: x.key) (genericClosure {
      startSet = map (f: { key = f; }) files;
      operator = x: if x.key == "/" || dirOf x.key == "/" then [ ] else [ { key = dirOf x.key; } ];
    });
in
rec {
  inherit hasPrefix debFiles;

  /**
    A store path with the files of the Debian packages `debs`; `only`, when
    given, keeps just the files under those path prefixes.
  */
  tree =
    {
      name,
      debs,
      only ? null,
    }:
    let
      files = filter (p: only == null || any (o: p == o || hasPrefix "${o}/" p) only) (
        concatMap debFiles debs
      );
      wanted = listToAttrs (
        map (p: {
          name = p;
          value = true;
        }) (withAncestors files)
      );
    in
    builtins.path {
      path = /.;
      inherit name;
      # Nix passes "//usr" for entries of the root directory
      filter =
        p: _type:
        let
          s = toString p;
        in
        wanted ? ${if hasPrefix "//" s then substring 1 (stringLength s) s else s};
    };
}
