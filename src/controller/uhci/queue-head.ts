/** UHCI 3.3: the queue head. DW0 head (horizontal) link, DW1 element (vertical) link. */
export const QH_HEAD_OFFSET = 0;
export const QH_ELEMENT_OFFSET = 4;
