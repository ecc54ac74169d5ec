/* YanXun: the charts of the compliance overview (ECharts), from the JSON in data-charts of #overview-charts (no
 * inline scripts: the Content-Security-Policy runs this site's files only). Every figure is also in the page's
 * tables.
 *
 *   [data-chart=standing]  stacked horizontal bars: met / not met yet / at risk per area or school
 *   [data-chart=hours]     bars: hours per teacher in each category
 */
(function () {
  "use strict";

  var source = document.getElementById("overview-charts");
  if (!source || typeof window.echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.getAttribute("data-charts"));
  var colours = {met: "#198754", not_met: "#ffc107", at_risk: "#dc3545"};
  var charts = [];

  function box(name, rows) {
    var element = document.querySelector('[data-chart="' + name + '"]');
    if (!element) {
      return null;
    }
    element.style.height = Math.max(180, Math.min(720, 60 + rows * 28)) + "px";
    var chart = window.echarts.init(element, null, {renderer: "canvas"});
    charts.push(chart);
    return chart;
  }

  var standing = data.standing;
  var bars = box("standing", standing.names.length);
  if (bars) {
    bars.setOption({
      animation: false,
      tooltip: {trigger: "axis", axisPointer: {type: "shadow"}, confine: true},
      legend: {top: 0},
      grid: {left: 8, right: 16, top: 32, bottom: 8, containLabel: true},
      xAxis: {type: "value", minInterval: 1},
      yAxis: {type: "category", data: standing.names,
              axisLabel: {width: 110, overflow: "truncate"}},
      series: standing.series.map(function (s) {
        return {name: s.name, type: "bar", stack: "teachers", data: s.values, itemStyle: {color: colours[s.status]},
                emphasis: {focus: "series"}};
      })
    });
  }

  var hours = data.hours;
  var columns = box("hours", hours.names.length);
  if (columns) {
    columns.setOption({
      animation: false,
      tooltip: {trigger: "axis", axisPointer: {type: "shadow"}, confine: true},
      grid: {left: 8, right: 24, top: 16, bottom: 32, containLabel: true},
      xAxis: {type: "value", name: hours.label, nameLocation: "middle", nameGap: 24},
      yAxis: {type: "category", data: hours.names, axisLabel: {width: 110, overflow: "truncate"}},
      series: [{name: hours.label, type: "bar", data: hours.values, itemStyle: {color: "#0d6efd"},
                label: {show: true, position: "right"}}]
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
}());
