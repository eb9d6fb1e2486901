/** [country, capital] pairs for the demo Datanet (facts, no license attached). */
export const CAPITALS: ReadonlyArray<readonly [string, string]> = [
  ["France", "Paris"], ["Germany", "Berlin"], ["Italy", "Rome"], ["Spain", "Madrid"], ["Portugal", "Lisbon"],
  ["Netherlands", "Amsterdam"], ["Belgium", "Brussels"], ["Austria", "Vienna"], ["Switzerland", "Bern"], ["Poland", "Warsaw"],
  ["Czechia", "Prague"], ["Hungary", "Budapest"], ["Greece", "Athens"], ["Sweden", "Stockholm"], ["Norway", "Oslo"],
  ["Denmark", "Copenhagen"], ["Finland", "Helsinki"], ["Ireland", "Dublin"], ["Iceland", "Reykjavik"], ["Japan", "Tokyo"],
  ["China", "Beijing"], ["India", "New Delhi"], ["South Korea", "Seoul"], ["Thailand", "Bangkok"], ["Vietnam", "Hanoi"],
  ["Indonesia", "Jakarta"], ["Egypt", "Cairo"], ["Kenya", "Nairobi"], ["Nigeria", "Abuja"], ["Morocco", "Rabat"],
  ["Canada", "Ottawa"], ["Mexico", "Mexico City"], ["Brazil", "Brasilia"], ["Argentina", "Buenos Aires"], ["Peru", "Lima"],
  ["Chile", "Santiago"], ["Colombia", "Bogota"], ["Australia", "Canberra"], ["New Zealand", "Wellington"], ["Turkey", "Ankara"],
];
