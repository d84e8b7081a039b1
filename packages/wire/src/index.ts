export { EtherType, FrameInfo, IpProto, PARSE_STATUS_NAMES, ParseStatus, TcpFlag, TcpOptNibble } from './frame.ts';
