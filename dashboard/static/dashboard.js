// Draws one chart per list of /api/adoption with the vendored Chart.js; no other requests.
// A page written by `spartakus dashboard --out` carries its data in window.SPARTAKUS_ADOPTION.
"use strict";
(function () {
  const PALETTE = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00",
    "#b82e2e", "#316395", "#994499", "#22aa99", "#aaaa11", "#6633cc", "#e67300", "#8b0707"];
  const SIZE_ORDER = ["0", "1", "2-5", "6-20", "21-100", "101-1000", "1001-5000", ">5000"];

  // "other" (rare sizes folded together) goes last.
  function sizeRank(key) {
    const rank = SIZE_ORDER.indexOf(key);
    return rank < 0 ? SIZE_ORDER.length : rank;
  }

  function versionOrder(a, b) {
    const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
    if (pa.some(isNaN) || pb.some(isNaN)) { return pa.some(isNaN) - pb.some(isNaN) || a.localeCompare(b); }
    return pa[0] - pb[0] || pa[1] - pb[1];
  }

  // The API already caps each list and folds rare keys into "other"; the bars show it as it is.
  function items(list, label) {
    return list.map((i) => [i[label], i.clusters, i.nodes]);
  }

  function barChart(canvas, rows, horizontal) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((r) => r[0]),
        datasets: [{ label: "clusters", data: rows.map((r) => r[1]), backgroundColor: PALETTE[0], nodes: rows.map((r) => r[2]) }],
      },
      options: {
        indexAxis: horizontal ? "y" : "x", animation: false, responsive: true, maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { afterLabel: (ctx) => ctx.dataset.nodes[ctx.dataIndex] === undefined ? "" : "nodes: " + ctx.dataset.nodes[ctx.dataIndex].toLocaleString() } },
        },
        scales: { x: { beginAtZero: true }, y: { beginAtZero: true } },
      },
    });
  }

  function weeklyChart(canvas, weekly) {
    const weeks = [...new Set(weekly.map((w) => w.week))].sort();
    const versions = [...new Set(weekly.map((w) => w.version))].sort(versionOrder);
    const count = new Map(weekly.map((w) => [w.week + " " + w.version, w.clusters]));
    const datasets = versions.map((v, i) => ({
      label: v, fill: true, pointRadius: weeks.length > 1 ? 0 : 4, tension: 0.2,
      data: weeks.map((w) => count.get(w + " " + v) || 0),
      backgroundColor: PALETTE[i % PALETTE.length] + "99", borderColor: PALETTE[i % PALETTE.length],
    }));
    return new Chart(canvas, {
      type: "line",
      data: { labels: weeks, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "right" } },
        scales: { y: { stacked: true, beginAtZero: true, title: { display: true, text: "clusters" } } },
      },
    });
  }

  function draw(data) {
    document.getElementById("clusters").textContent = data.clusters.toLocaleString();
    document.getElementById("nodes").textContent = data.nodes.toLocaleString();
    document.getElementById("window").textContent = data.window_hours % 24 === 0 ? (data.window_hours / 24) + " days" : data.window_hours + " hours";
    document.getElementById("generated").textContent = data.generated_at;
    document.getElementById("verified").textContent = data.verified.clusters.toLocaleString();
    document.getElementById("unverified").textContent = data.unverified.clusters.toLocaleString();
    document.getElementById("min-clusters").textContent = data.min_clusters.toLocaleString();
    for (const canvas of document.querySelectorAll("canvas[data-list]")) {
      const list = canvas.dataset.list;
      if (list === "weekly") {
        weeklyChart(canvas, data.weekly);
      } else if (list === "new_clusters") {
        barChart(canvas, data.new_clusters.map((d) => [d.day, d.clusters, undefined]), false);
      } else if (list === "by_version") {
        const versions = [...data.by_version].sort((a, b) => versionOrder(a.version, b.version));
        barChart(canvas, items(versions, "version"), false);
      } else if (list === "cluster_sizes") {
        const sizes = [...data.cluster_sizes].sort((a, b) => sizeRank(a.key) - sizeRank(b.key));
        barChart(canvas, items(sizes, "key"), false);
      } else {
        barChart(canvas, items(data[list], "key"), true);
      }
    }
    document.body.dataset.state = "ready";
  }

  // The error body every Spartakus HTTP app answers with: {"error": ..., "details": [{"message": ...}]}.
  function problem(body) {
    const first = body && Array.isArray(body.details) && body.details[0];
    return first && first.message ? body.error + ": " + first.message : body && body.error;
  }

  function fail(message) {
    document.getElementById("status").textContent = message;
    document.body.dataset.state = "failed";
  }

  if (window.SPARTAKUS_ADOPTION) {
    draw(window.SPARTAKUS_ADOPTION);
  } else {
    fetch("api/adoption", { headers: { Accept: "application/json" } })
      .then((response) => response.ok ? response.json() : response.json().then((body) => Promise.reject(new Error(problem(body) || response.statusText))))
      .then(draw)
      .catch((error) => fail("Cannot load the figures: " + error.message));
  }
})();
