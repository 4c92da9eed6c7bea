// Undo and redo of prompts and vertex edits. A step is {kind, before, after, ...}; the module
// that records a kind also says how to apply one of its snapshots (``onApply``).

const undoStack = [];
const redoStack = [];
const appliers = {};

/** How to bring back a snapshot of ``kind``: ``apply(snapshot, step)``. */
export function onApply(kind, apply) {
  appliers[kind] = apply;
}

/** A new step: it can be undone, and whatever was undone before can no longer be redone. */
export function record(step) {
  undoStack.push(step);
  redoStack.length = 0;
}

/** Drop every step of ``kind`` (the prompt was cleared, the annotation deselected). */
export function forget(kind) {
  for (const stack of [undoStack, redoStack]) stack.splice(0, stack.length, ...stack.filter((s) => s.kind !== kind));
}

export function undo() {
  const step = undoStack.pop();
  if (!step) return;
  redoStack.push(step);
  appliers[step.kind](step.before, step);
}

export function redo() {
  const step = redoStack.pop();
  if (!step) return;
  undoStack.push(step);
  appliers[step.kind](step.after, step);
}

/** How many steps can be undone and redone. */
export function depth() {
  return { undo: undoStack.length, redo: redoStack.length };
}
