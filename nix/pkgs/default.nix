# Envicutor's stand-in package set. THIS IS NOT NIXPKGS.
#
# The machines this project is developed and tested on reach no Nix binary
# cache and no nixpkgs checkout, so Runtimes in tests name attributes of this
# small set instead: `packages: ["python3"]` means `(import nix/pkgs {}).python3`,
# exactly as it would mean `(import <nixpkgs> {}).python3` in production.
#
# Each package repackages binaries already installed on this Debian machine
# (scripts/setup.d/40-nix.sh installs them with apt-get): the files dpkg lists
# for some Debian packages are imported with builtins.path, copied into $out,
# every ELF file is pointed at the store's glibc with patchelf, and the result
# is checked INSIDE the Nix build sandbox (sandbox = true), where there is no
# /usr and no /lib, only /nix/store. The builder is a static busybox.
#
# Consequences worth knowing: the store paths depend on the host's Debian
# files, so two nodes get the same closure only if they run the same Debian
# package versions (true for the test "nodes", which share this machine), and
# evaluation reads and hashes those files (~1 s). Nothing is downloaded.
{
  system ? builtins.currentSystem,
  dpkgInfo ? "/var/lib/dpkg/info",
}:
let
  debian = import ./debian.nix { inherit dpkgInfo; };

  # A directory holding only Debian's static busybox: busybox picks its applet
  # from argv[0], so the file must be called exactly `busybox`.
  busyboxDir = builtins.path {
    path = /usr/bin;
    name = "busybox";
    filter = p: _type: baseNameOf p == "busybox";
  };
  busybox = "${busyboxDir}/busybox";

  # glibc from Debian's libc6, flattened into $out/lib. Every other package
  # uses its dynamic loader and libraries instead of the host's.
  glibc = derivation {
    name = "glibc-debian";
    inherit system;
    builder = busybox;
    args = [
      "sh"
      "-euc"
      ''
        ${busybox} mkdir -p $out/lib
        ${busybox} cp -RP $src/usr/lib/x86_64-linux-gnu/. $out/lib/
        ${busybox} chmod -R u+w $out
        $out/lib/ld-linux-x86-64.so.2 --version >/dev/null
      ''
    ];
    src = debian.tree {
      name = "libc6-debian-files";
      debs = [ "libc6" ];
    };
  };

  # patchelf runs unpatched, through the store's loader (see builder.sh).
  patchelfTree = debian.tree {
    name = "patchelf-debian-files";
    debs = [
      "patchelf"
      "libstdc++6"
      "libgcc-s1"
    ];
  };

  /**
    A package made from installed Debian packages.
    debs: Debian packages whose files make up the package (with the libraries
      they need, apart from libc6: see nix/pkgs/debian-deps.sh);
    only: keep just these path prefixes; bins: "name=usr/bin/target" entries;
    env: NAME=VALUE lines for nix-support/envicutor-env; check: shell code run
      in the sandbox that must succeed.
  */
  mkDebianPackage =
    {
      name,
      debs,
      only ? null,
      bins ? [ ],
      env ? [ ],
      extraRpath ? [ ],
      postInstall ? "",
      check ? "",
    }:
    derivation {
      inherit name system;
      builder = busybox;
      args = [
        "sh"
        ./builder.sh
      ];
      inherit busybox glibc;
      patchelfBin = "${patchelfTree}/usr/bin/patchelf";
      patchelfLibs = "${patchelfTree}/usr/lib/x86_64-linux-gnu:${glibc}/lib";
      src = debian.tree {
        name = "${name}-debian-files";
        inherit debs only;
      };
      inherit bins postInstall check;
      envicutorEnv = env;
      extraRpath = builtins.concatStringsSep ":" extraRpath;
    };

  pythonLibs = [
    "zlib1g"
    "libexpat1"
    "libbz2-1.0"
    "liblzma5"
    "libffi8"
    "libssl3"
    "libsqlite3-0"
    "libreadline8"
    "libncursesw6"
    "libtinfo6"
    "libuuid1"
    "libcrypt1"
    "libdb5.3"
    "libnsl2"
    "libtirpc3"
    "libgssapi-krb5-2"
    "libkrb5-3"
    "libk5crypto3"
    "libkrb5support0"
    "libcom-err2"
    "libkeyutils1"
  ];

  gccVersion = "12";
  triple = "x86_64-linux-gnu";
in
rec {
  inherit glibc;

  # Debian's busybox (static) as a package: `sh` and the usual applets.
  busyboxStatic = derivation {
    name = "busybox-static-debian";
    inherit system;
    builder = busybox;
    args = [
      "sh"
      "-euc"
      ''
        ${busybox} mkdir -p $out/bin
        ${busybox} cp ${busybox} $out/bin/busybox
        for a in $(${busybox} --list); do [ $a = busybox ] || ${busybox} ln -s busybox $out/bin/$a; done
      ''
    ];
  };

  bash = mkDebianPackage {
    name = "bash-debian";
    debs = [
      "bash"
      "libtinfo6"
    ];
    only = [
      "/usr/bin/bash"
      "/usr/lib/x86_64-linux-gnu"
    ];
    bins = [
      "bash=usr/bin/bash"
      "sh=usr/bin/bash"
    ];
    check = ''[ "$($out/bin/bash -c 'echo $((40 + 2))')" = 42 ]'';
  };

  coreutils = mkDebianPackage {
    name = "coreutils-debian";
    debs = [
      "coreutils"
      "libacl1"
      "libattr1"
      "libselinux1"
      "libpcre2-8-0"
      "libgmp10"
    ];
    postInstall = "ln -s usr/bin $out/bin";
    check = ''[ "$(printf 'b\na\n' | $out/bin/sort | $out/bin/head -n1)" = a ]'';
  };

  python3 = mkDebianPackage {
    name = "python3-debian";
    debs = [
      "python3.11-minimal"
      "libpython3.11-minimal"
      "libpython3.11-stdlib"
      "python3.11"
    ]
    ++ pythonLibs;
    bins = [
      "python3=usr/bin/python3.11"
      "python=usr/bin/python3.11"
      "python3.11=usr/bin/python3.11"
    ];
    # Python finds its standard library next to its (resolved) executable, so
    # no PYTHONHOME; the store is read-only and user site dirs are the host's.
    env = [
      "PYTHONDONTWRITEBYTECODE=1"
      "PYTHONNOUSERSITE=1"
    ];
    # Byte-code compiled once, here: the store is read-only in a sandbox, and
    # a root user outside one would otherwise write __pycache__ into the store
    # path and corrupt it. unchecked-hash .pyc files stay valid although Nix
    # resets every mtime in the store.
    postInstall = ''
      $out/bin/python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        -x '/(test|tests|idlelib|lib2to3/tests)/' $out/usr/lib/python3.11 >/dev/null
    '';
    check = ''
      export PYTHONDONTWRITEBYTECODE=1
      $out/bin/python3 -c 'import sys, ssl, sqlite3, ctypes, lzma, bz2, zlib, json, decimal, hashlib, readline, uuid
      assert sys.prefix == "'$out'/usr", sys.prefix
      print(sys.version)'
    '';
  };
  python = python3;

  nodejs = mkDebianPackage {
    name = "nodejs-debian";
    debs = [
      "nodejs"
      "libstdc++6"
      "libgcc-s1"
    ];
    only = [
      "/usr/bin/node"
      "/usr/lib/x86_64-linux-gnu"
    ];
    bins = [ "node=usr/bin/node" ];
    check = ''[ "$($out/bin/node -e 'console.log(6 * 7)')" = 42 ]'';
  };
  node = nodejs;

  # gcc and g++ (Debian's gcc-12 with binutils and libc6-dev), used like a
  # sysroot: $out holds usr/{bin,lib,include} and bin/ has wrappers that point
  # the compiler at it and make programs it links load the store's glibc.
  gcc = mkDebianPackage {
    name = "gcc-debian";
    debs = [
      "gcc-${gccVersion}"
      "g++-${gccVersion}"
      "cpp-${gccVersion}"
      "gcc-${gccVersion}-base"
      "libgcc-${gccVersion}-dev"
      "libstdc++-${gccVersion}-dev"
      "libc6-dev"
      "libcrypt-dev"
      "linux-libc-dev"
      "binutils"
      "binutils-x86-64-linux-gnu"
      "binutils-common"
      "libbinutils"
      "libctf0"
      "libctf-nobfd0"
      "libgprofng0"
      "libjansson4"
      "libgmp10"
      "libisl23"
      "libmpc3"
      "libmpfr6"
      "libzstd1"
      "zlib1g"
      "libstdc++6"
      "libgcc-s1"
      "libgomp1"
      "libitm1"
      "libatomic1"
      "libquadmath0"
    ];
    extraRpath = [ "${builtins.placeholder "out"}/usr/lib/gcc/${triple}/${gccVersion}" ];
    postInstall = ''
      # libc6-dev's linker scripts name /lib/x86_64-linux-gnu/libc.so.6 and the
      # loader; with --sysroot=$out they resolve here, to the store's glibc.
      ln -sfn usr/lib $out/lib
      ln -sfn usr/lib64 $out/lib64
      mkdir -p $out/usr/lib64
      for f in $glibc/lib/*; do
        [ -e "$out/usr/lib/${triple}/''${f##*/}" ] || ln -s "$f" "$out/usr/lib/${triple}/''${f##*/}"
      done
      ln -sfn $glibc/lib/ld-linux-x86-64.so.2 $out/usr/lib64/ld-linux-x86-64.so.2

      mkdir -p $out/bin
      wrap() { # wrap NAME TARGET EXTRA-FLAGS
        {
          echo "#!$busybox sh"
          echo "# $1 of Envicutor's stand-in package set: Debian's compiler with \$out as sysroot"
          echo "exec $out/usr/bin/$2 --sysroot=$out -B$out/usr/bin/ $3 -Wl,--dynamic-linker=$glibc/lib/ld-linux-x86-64.so.2 -Wl,-rpath,$glibc/lib -Wl,-rpath,$out/usr/lib/${triple} \"\$@\""
        } >$out/bin/$1
        chmod +x $out/bin/$1
      }
      cxx="-nostdinc++ -isystem $out/usr/include/c++/${gccVersion} -isystem $out/usr/include/${triple}/c++/${gccVersion} -isystem $out/usr/include/c++/${gccVersion}/backward"
      wrap gcc ${triple}-gcc-${gccVersion} ""
      wrap cc ${triple}-gcc-${gccVersion} ""
      wrap g++ ${triple}-g++-${gccVersion} "$cxx"
      wrap c++ ${triple}-g++-${gccVersion} "$cxx"
      for tool in as ld ar nm objdump strip; do ln -s ../usr/bin/$tool $out/bin/$tool; done
    '';
    check = ''
      cd $TMPDIR
      printf '#include <stdio.h>\n#include <math.h>\nint main(void){printf("%%d\\n",(int)sqrt(1764.0));return 0;}\n' >t.c
      $out/bin/gcc -O2 -o t t.c -lm
      [ "$(./t)" = 42 ]
      printf '#include <iostream>\n#include <vector>\nint main(){std::vector<int> v{40,2};std::cout<<v[0]+v[1]<<std::endl;}\n' >t.cc
      $out/bin/g++ -O2 -o tcc t.cc
      [ "$(./tcc)" = 42 ]
    '';
  };
  gxx = gcc;
  "g++" = gcc;
}
