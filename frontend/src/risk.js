// The review risk of an annotation as words for the reviewer (annotator/workflow/risk.py
// computes it; the API sends ``risk`` and ``risk_parts``). Parts come biggest first.

const LOW = 0.5; // a part at or above this is called out ("low", "far")

function describePart(name, part) {
  const v = part.value;
  switch (name) {
    case "predicted_iou": return `predicted IoU ${v.toFixed(2)}${part.part >= LOW ? " (low)" : ""}`;
    case "stability": return `stability ${v.toFixed(2)}${part.part >= LOW ? " (low)" : ""}`;
    case "candidate_disagreement": return `candidate masks disagree ${Math.round(v * 100)}%`;
    case "touches_window_edge": return v ? "touches a window edge" : "clear of window edges";
    case "area": {
      const r = part.ratio;
      const times = r >= 1 ? `${r.toFixed(1)}× the class's typical area` : `1/${(1 / r).toFixed(1)} of the class's typical area`;
      return `${times}${part.part >= LOW ? " (far)" : ""}`;
    }
    default: return name;
  }
}

/** "risk 0.72: predicted IoU 0.41 (low), touches a window edge, …", or why there is none. */
export function riskText(properties) {
  const risk = properties.risk;
  if (risk === null || risk === undefined) return "no risk score (no SAM2 figures)";
  const parts = Object.entries(properties.risk_parts || {})
    .sort(([, a], [, b]) => b.weight * b.part - a.weight * a.part)
    .map(([name, part]) => describePart(name, part));
  return `risk ${risk.toFixed(2)}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}
