#!/usr/bin/env python3
"""Checks that the folders of each target that has folders (Sources/Broker, Sources/TUI, …)
depend on each other without cycles.

A folder depends on another when one of its files names a type declared there (a rough but
useful reading: comments are ignored). The targets' import rules are kept by the compiler;
this keeps the layers inside a target, whose folders share one module. Files at a target's top
(the dashboard's main loop) may use every folder and are not checked. It also keeps the codec
pure: Sources/MQTTCodec may import NIOCore and nothing else (the compiler cannot refuse
Foundation, which every target can see). Prints each graph; exits 1 on a cycle or a stray import.
"""
import collections, glob, os, re, sys

sources = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources")
DECLARATION = re.compile(
    r"^(?:@\w+(?:\(\w+\))? )*(?:public |package )?(?:final class|class|struct|enum|protocol|actor|typealias) (\w+)", re.M
)


def check(target):
    root = os.path.join(sources, target)
    files = glob.glob(os.path.join(root, "*", "*.swift"))
    declared = {}
    for path in files:
        folder = os.path.basename(os.path.dirname(path))
        for m in DECLARATION.finditer(open(path).read()):
            declared[m.group(1)] = folder
    graph = collections.defaultdict(set)
    for path in files:
        folder = os.path.basename(os.path.dirname(path))
        text = re.sub(r"//.*", "", open(path).read())
        for name, where in declared.items():
            if where != folder and re.search(r"\b" + name + r"\b", text):
                graph[folder].add(where)
    print(f"{target}:")
    for folder in sorted(set(declared.values())):
        print(f"  {folder:<11} -> {', '.join(sorted(graph[folder])) or '(nothing)'}")
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                print(f"cycle in {target}: " + " -> ".join(path + [node, nxt]), file=sys.stderr)
                sys.exit(1)
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for folder in sorted(graph):
        if folder not in state:
            visit(folder, [])


targets = sorted(
    name for name in os.listdir(sources)
    if any(os.path.isdir(os.path.join(sources, name, sub)) and glob.glob(os.path.join(sources, name, sub, "*.swift"))
           for sub in os.listdir(os.path.join(sources, name)))
)
for target in targets:
    check(target)
codec = os.path.join(sources, "MQTTCodec")
for path in sorted(glob.glob(os.path.join(codec, "*.swift"))):
    for module in re.findall(r"^(?:@[\w()]+ )*import (\w+)", open(path).read(), re.M):
        if module != "NIOCore":
            print(f"{os.path.basename(path)}: MQTTCodec imports {module}; it may import NIOCore only", file=sys.stderr)
            sys.exit(1)
