/**
 * Long, harmless passages (written for this evaluation) that a request is buried in, to check that
 * chunked matching still finds it. Each passage is several paragraphs of everyday text, far longer
 * than the model's useful window.
 */
export const FILLER_PASSAGES: readonly string[] = [
  `Last weekend we finally cleared the back garden. The previous owners had left a tangle of brambles along
the fence, and it took most of Saturday morning to cut them back and dig out the roots. My daughter was in
charge of the wheelbarrow and took the job very seriously. By lunchtime we had uncovered an old brick path
that none of us knew was there. In the afternoon we planted two rows of potatoes, some runner beans against
the south wall, and a small herb bed by the kitchen door with thyme, rosemary and mint. The mint went into a
pot sunk into the soil, because everyone warned us that it spreads everywhere if you let it. On Sunday it
rained, so we stayed in and sorted through seed packets, making a rough calendar of what to sow each month.
We are hoping for tomatoes in late summer if the greenhouse survives the wind. The neighbours lent us a
ladder to clear the gutters, and in return we promised them a share of the beans.`,
  `Our trip along the coast started in a small fishing town where the harbour is still full of working
boats. We arrived on the evening train and walked down to the sea wall to watch the light fade over the
water. The next morning we rented bicycles and followed the old railway line, which has been turned into a
flat path that runs between the dunes and the marshes. We stopped at a café in a converted signal box for
coffee and a slice of lemon cake. In the afternoon the wind picked up and we had to push the bikes for the
last few kilometres, which was tiring but gave us time to watch the birds on the mudflats. The guesthouse
that night was run by a retired teacher who knew the history of every building in the village. She told us
about the storm of 1953 and showed us the marks on the church wall where the water had reached. On the last
day we took the ferry across the estuary and caught the slow train home, tired and happy.`,
  `To make a simple loaf of bread at home you need flour, water, salt and a little yeast. Start by mixing the
yeast into lukewarm water and letting it sit for a few minutes. Add it to the flour and salt and stir until
there is no dry flour left, then cover the bowl and leave it for half an hour. After the rest, knead the dough
on a lightly floured surface for about ten minutes, until it feels smooth and springs back when you press it.
Put it back in the bowl, cover it, and let it rise somewhere warm until it has doubled in size, which usually
takes an hour or two. Shape it gently into a round, place it on a floured tray, and let it rise again while
the oven heats up. Bake it hot for the first ten minutes, then lower the temperature and bake until the crust
is deep brown and the loaf sounds hollow when you tap the bottom. Let it cool before slicing, however hard
that is, because the crumb keeps cooking as it cools.`,
];

/** The request placed between the passage's sentences at `position` (0 = start, 1 = end). */
export function bury(request: string, passage: string, position = 0.5): string {
  const sentences = passage
    .replace(/\s+/g, ' ')
    .trim()
    .split(/(?<=[.!?])\s+/);
  const at = Math.round(sentences.length * position);
  const ended = /[.!?]$/.test(request.trim()) ? request.trim() : `${request.trim()}.`;
  return [...sentences.slice(0, at), ended, ...sentences.slice(at)].join(' ');
}
