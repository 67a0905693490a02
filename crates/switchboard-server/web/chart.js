// A self-drawn SVG chart of the last hour: unanswered tasks per minute (an area, left axis) and the service level
// of the 15 minutes ending at each minute (a line, right axis, 0-100 %), with the 80 % target dashed.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 760;
const HEIGHT = 250;
const MARGIN = { left: 40, right: 46, top: 14, bottom: 28 };

function node(tag, attributes = {}, text) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function niceMax(value) {
  const top = Math.max(4, value);
  const step = top <= 10 ? 2 : top <= 25 ? 5 : top <= 50 ? 10 : Math.pow(10, Math.floor(Math.log10(top)));
  return Math.ceil(top / step) * step;
}

/**
 * Draws into `svg` (replacing what it held). points: [{time: Date, waiting: number, serviceLevel: number|null}],
 * oldest first, one a minute.
 */
export function drawChart(svg, points, target = 80) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("role", "img");
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  if (points.length === 0) {
    svg.append(node("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" }, "No data yet"));
    svg.setAttribute("aria-label", "Chart of the last hour: no data yet");
    return;
  }
  const first = points[0].time.getTime();
  const last = points[points.length - 1].time.getTime();
  // Each point covers its minute: the last one ends at the right edge.
  const span = last - first + 60000;
  const x = (time) => MARGIN.left + ((time.getTime() - first) / span) * plotWidth;
  const maxWaiting = niceMax(Math.max(...points.map((p) => p.waiting)));
  const yWaiting = (value) => MARGIN.top + plotHeight - (value / maxWaiting) * plotHeight;
  const ySl = (value) => MARGIN.top + plotHeight - (value / 100) * plotHeight;

  // Grid and left axis (tasks).
  const ticks = maxWaiting <= 10 ? maxWaiting / 2 : 5;
  for (let i = 0; i <= ticks; i += 1) {
    const value = (maxWaiting / ticks) * i;
    const y = yWaiting(value);
    svg.append(node("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y }));
    svg.append(node("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, Math.round(value)));
  }
  // Right axis (service level).
  for (const value of [0, 50, 100]) {
    svg.append(node("text", { x: WIDTH - MARGIN.right + 6, y: ySl(value) + 4 }, `${value}%`));
  }
  // Time labels every 15 minutes.
  for (const point of points) {
    const minute = point.time.getMinutes();
    if (minute % 15 === 0) {
      const label = `${String(point.time.getHours()).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
      svg.append(node("text", { x: x(point.time), y: HEIGHT - 8, "text-anchor": "middle" }, label));
    }
  }
  // Waiting: a step area.
  let path = `M ${x(points[0].time)} ${yWaiting(0)}`;
  for (let i = 0; i < points.length; i += 1) {
    const here = x(points[i].time);
    const next = x(new Date(points[i].time.getTime() + 60000));
    path += ` L ${here} ${yWaiting(points[i].waiting)} L ${next} ${yWaiting(points[i].waiting)}`;
  }
  path += ` L ${WIDTH - MARGIN.right} ${yWaiting(0)} Z`;
  svg.append(node("path", { class: "waiting", d: path }));
  // Target.
  svg.append(node("line", {
    class: "target", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: ySl(target), y2: ySl(target),
  }));
  // Service level: a line through the middle of each minute, broken where there is no value; a minute with a
  // value between two without gets a dot, and so does the latest value.
  let line = "";
  const half = (x(new Date(first + 60000)) - x(new Date(first))) / 2;
  const has = (point) => point && point.serviceLevel !== null && point.serviceLevel !== undefined;
  let latest = null;
  points.forEach((point, i) => {
    if (!has(point)) return;
    const cx = x(point.time) + half;
    const cy = ySl(point.serviceLevel);
    line += `${has(points[i - 1]) ? "L" : "M"} ${cx} ${cy} `;
    if (!has(points[i - 1]) && !has(points[i + 1])) svg.append(node("circle", { class: "sl-dot", cx, cy, r: 3.5 }));
    latest = [cx, cy];
  });
  if (line) svg.append(node("path", { class: "sl", d: line.trim() }));
  if (latest) svg.append(node("circle", { class: "sl-dot", cx: latest[0], cy: latest[1], r: 4 }));
  svg.append(node("line", {
    class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: yWaiting(0), y2: yWaiting(0),
  }));

  const now = points[points.length - 1];
  const sl = now.serviceLevel === null || now.serviceLevel === undefined ? "no service level yet"
    : `service level ${now.serviceLevel}%`;
  svg.setAttribute("aria-label",
    `Chart of the last hour: ${now.waiting} unanswered now, at most ${Math.max(...points.map((p) => p.waiting))}; ${sl}`);
}
