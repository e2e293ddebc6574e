#!/usr/bin/env python3
"""Checks that the folders of Sources/Broker depend on each other without cycles.

A folder depends on another when one of its files names a type declared there (a rough but
useful reading: comments are ignored). The targets' import rules are kept by the compiler;
this keeps the layers inside the Broker target, which share one module. It also keeps the
codec pure: Sources/MQTTCodec may import NIOCore and nothing else (the compiler cannot refuse
Foundation, which every target can see). Prints the graph; exits 1 on a cycle or a stray import.
"""
import collections, glob, os, re, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "Broker")
files = glob.glob(os.path.join(root, "*", "*.swift"))
declared = {}
for path in files:
    folder = os.path.basename(os.path.dirname(path))
    for m in re.finditer(r"^(?:@\w+(?:\(\w+\))? )*(?:public |package )?(?:final class|class|struct|enum|protocol|actor|typealias) (\w+)", open(path).read(), re.M):
        declared[m.group(1)] = folder
graph = collections.defaultdict(set)
for path in files:
    folder = os.path.basename(os.path.dirname(path))
    text = re.sub(r"//.*", "", open(path).read())
    for name, where in declared.items():
        if where != folder and re.search(r"\b" + name + r"\b", text):
            graph[folder].add(where)
for folder in sorted(set(declared.values())):
    print(f"{folder:<11} -> {', '.join(sorted(graph[folder])) or '(nothing)'}")
codec = os.path.join(root, "..", "MQTTCodec")
for path in sorted(glob.glob(os.path.join(codec, "*.swift"))):
    for module in re.findall(r"^(?:@[\w()]+ )*import (\w+)", open(path).read(), re.M):
        if module != "NIOCore":
            print(f"{os.path.basename(path)}: MQTTCodec imports {module}; it may import NIOCore only", file=sys.stderr)
            sys.exit(1)
state = {}
def visit(node, path):
    state[node] = "open"
    for nxt in sorted(graph[node]):
        if state.get(nxt) == "open":
            print("cycle: " + " -> ".join(path + [node, nxt]), file=sys.stderr)
            sys.exit(1)
        if nxt not in state:
            visit(nxt, path + [node])
    state[node] = "done"
for folder in sorted(graph):
    if folder not in state:
        visit(folder, [])
